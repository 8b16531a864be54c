"""Per-function pools of worker processes: Lambda's execution environments, started on demand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from infra.cfn import LOCAL_REGION, Function

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
# A Lambda response may be 6 MB; the asyncio default line limit (64 KiB) would cut it.
_LINE_LIMIT = 16 * 1024 * 1024


class InvocationError(Exception):
    """The function raised, timed out or could not start; the trace is in the log."""

    def __init__(self, kind: str, message: str, trace: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.trace = trace


@dataclass
class _Worker:
    proc: asyncio.subprocess.Process
    warm: bool = False

    async def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise InvocationError("Runtime.ExitError", "the worker process exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


class FunctionPool:
    """Up to `max_workers` processes for one function, each serving one request at a time."""

    def __init__(
        self,
        function: Function,
        env: dict[str, str],
        max_workers: int = 4,
        log: IO[str] | None = None,
    ) -> None:
        self.function = function
        self.env = env
        self.max_workers = max_workers
        self.log = log
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._slots = asyncio.Semaphore(max_workers)
        self.started = 0  # cold starts, for tests
        self.invocations = 0

    async def _spawn(self) -> _Worker:
        args = [str(WORKER_SCRIPT), str(self.function.code_uri), self.function.handler]
        args += [str(p) for p in self.function.layers]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log if self.log is not None else None,
            env=self.env,
            cwd=str(self.function.code_uri),
            limit=_LINE_LIMIT,
        )
        self.started += 1
        worker = _Worker(proc)
        self._all.append(worker)
        return worker

    async def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        request_id = request_id or str(uuid.uuid4())
        self.invocations += 1
        timeout = float(self.function.timeout)
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._spawn()
            request = {
                "event": event,
                "request_id": request_id,
                "deadline_ms": int((time.time() + timeout) * 1000),
            }
            try:
                # The first call also pays the import (Lambda's init phase, which has its own 10 s).
                answer = await worker.call(request, timeout + (0.0 if worker.warm else 10.0))
            except (TimeoutError, InvocationError, ConnectionError, OSError) as exc:
                worker.kill()
                self._all.remove(worker)
                if isinstance(exc, TimeoutError):
                    raise InvocationError("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds") from exc
                raise
            worker.warm = True
            self._idle.append(worker)
        if "error" in answer:
            err = answer["error"]
            raise InvocationError(err.get("type", "Error"), err.get("message", ""), err.get("trace", ""))
        return answer.get("result")

    async def close(self) -> None:
        for worker in self._all:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        for worker in self._all:
            try:
                await asyncio.wait_for(worker.proc.wait(), 3)
            except TimeoutError:
                worker.kill()
                await worker.proc.wait()
        self._all.clear()
        self._idle.clear()


def lambda_environment(function: Function, endpoint_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Lambda gives a function: its template variables plus the reserved ones.

    Nothing of the developer's shell leaks in except what a process needs to start (PATH, HOME, locale),
    so a variable the template forgot fails locally as it would in AWS.
    """
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": LOCAL_REGION,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            # Each function signs with its own key id, so the local AWS server knows whose call it serves.
            "AWS_ACCESS_KEY_ID": function.logical_id,
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_ENDPOINT_URL": endpoint_url,
            # Local only: the SDK names the function in its User-Agent ("app/<id>"), so that the local AWS
            # server can tell whose calls it records.
            "AWS_SDK_UA_APP_ID": function.logical_id,
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(function.environment)
    # No X-Ray daemon runs locally, whatever the template says.
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    env.update(extra or {})
    return env
