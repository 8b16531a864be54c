"""One Lambda execution environment: imports a handler once, then runs one invocation at a time.

Started by infra/local/workers.py as a script (not a module) so that the function sees only its own code
directory and its layers on sys.path, as in Lambda. Requests arrive as JSON lines on stdin; answers leave
as JSON lines on a private copy of the original stdout, while fd 1 itself is pointed at stderr so that
whatever the handler prints (Powertools logs, EMF metrics) ends in the log, not in the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, memory: int, request_id: str, deadline_ms: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ.get('AWS_REGION', 'eu-west-3')}:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main() -> None:
    code_dir, handler_spec = sys.argv[1], sys.argv[2]
    layer_dirs = sys.argv[3:]
    # Lambda puts the function code first, then the layers; the script's own directory is not there.
    del sys.path[0]
    for path in reversed([code_dir, *layer_dirs]):
        sys.path.insert(0, path)

    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1, closefd=False)

    module_name, _, func_name = handler_spec.rpartition(".")
    handler: Any = None
    init_error: dict[str, str] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # an import error fails every invocation, as Lambda's init error does
        init_error = {"type": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()}
        sys.stderr.write(init_error["trace"])

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            proto.write(json.dumps({"error": init_error}) + "\n")
            continue
        ctx = LambdaContext(function_name, memory, request["request_id"], request["deadline_ms"])
        try:
            result = handler(request["event"], ctx)
            answer: dict[str, Any] = {"result": result}
            try:
                payload = json.dumps(answer, default=str)
            except (TypeError, ValueError) as exc:
                payload = json.dumps({"error": {"type": "Runtime.MarshalError", "message": str(exc), "trace": ""}})
        except Exception as exc:
            trace = traceback.format_exc()
            sys.stderr.write(trace)
            payload = json.dumps({"error": {"type": type(exc).__name__, "message": str(exc), "trace": trace}})
        sys.stdout.flush()
        sys.stderr.flush()
        proto.write(payload + "\n")


if __name__ == "__main__":
    main()
