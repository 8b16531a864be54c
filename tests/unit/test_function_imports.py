"""Only the payment functions carry zeep and lxml: the others must not pay for them at cold start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT

# Every function but the payment ones (which import espace_famille.payfip).
LEAN_FUNCTIONS = ["invoices", "claims", "news", "session", "accounts", "authorizer", "health", "importer"]
HEAVY = ("eopayment", "zeep", "lxml", "requests", "espace_famille.payfip")

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {"eopayment", "zeep", "lxml", "requests"}
                        or name == "espace_famille.payfip")))
"""


@pytest.mark.parametrize("tracing", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("name", LEAN_FUNCTIONS)
def test_function_does_not_import_the_payfip_stack(name, tracing):
    app = ROOT / "functions" / name / "app.py"
    env = {
        **os.environ,
        "TABLE_NAME": "t",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        # With tracing on, the X-Ray SDK patches libraries: it must not import requests for that.
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(app)], cwd=app.parent, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{name} imports {loaded} ({HEAVY} belong to the payment functions only)"


def test_the_probe_sees_the_adapter_when_it_is_imported(tmp_path):
    app = tmp_path / "app.py"
    app.write_text("import espace_famille.payfip\n")
    done = subprocess.run([sys.executable, "-c", PROBE, str(app)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"eopayment", "zeep", "lxml", "espace_famille.payfip"} <= set(loaded)
