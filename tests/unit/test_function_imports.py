"""What each function imports at start-up: no payment stack outside the payment functions, no X-Ray SDK
unless the template asks for it, no boto3 in the API functions (DynamoDB and SQS go through dal.wire), and
the session authorizer reads one item with the standard library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.cfn import load_template
from tests.support import ROOT

# The functions that take payments may carry eopayment and zeep; every other one must not.
PAYMENT_FUNCTIONS = {"payments", "payfip_webhook", "reconcile"}
ALL_FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
LEAN_FUNCTIONS = [name for name in ALL_FUNCTIONS if name not in PAYMENT_FUNCTIONS]
PAYMENT_STACK = {"eopayment", "zeep", "lxml", "requests"}

PROBE = """
import importlib.util, json, sys
sys.path[:0] = [sys.argv[2]]
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({
    "modules": sorted({name.split(".")[0] for name in sys.modules} | ({"espace_famille.payfip"} & set(sys.modules))),
    "aws_sdk": sorted(name for name in sys.modules if name.startswith(("boto3", "botocore.", "s3transfer"))),
}))
"""


def deployed_environment(name: str) -> dict[str, str]:
    """The function's environment as the template deploys it with its default parameters."""
    template = load_template(ROOT / "template.yaml", {"SiteUrl": "https://portail.example"})
    function = next(f for f in template.functions.values() if f.code_uri.name == name)
    return {k: str(v) for k, v in function.environment.items()}


def loaded(name: str, env: dict[str, str]) -> dict[str, object]:
    app = ROOT / "functions" / name / "app.py"
    full_env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "eu-west-3", **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(app), str(ROOT / "shared")],
        cwd=app.parent,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_as_deployed_no_function_imports_the_xray_sdk(name):
    env = deployed_environment(name)
    assert env["XRAY_SDK"] == "false"  # EnableXRaySdk's default; Lambda's active tracing stays on
    modules = loaded(name, env)["modules"]
    assert isinstance(modules, list)
    assert "aws_xray_sdk" not in modules, f"{name} imports the X-Ray SDK at start-up"
    if name not in PAYMENT_FUNCTIONS:
        heavy = sorted(PAYMENT_STACK & set(modules) | ({"espace_famille.payfip"} & set(modules)))
        assert heavy == [], f"{name} imports {heavy}: they belong to the payment functions only"


# The functions API Gateway invokes for a request (routes and the session authorizer).
API_FUNCTIONS = [
    "accounts",
    "authorizer",
    "claims",
    "health",
    "invoices",
    "news",
    "payfip_webhook",
    "payments",
    "session",
]


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_api_functions_import_no_aws_sdk_and_no_payment_stack_unless_they_take_payments(name):
    env = deployed_environment(name)
    found = loaded(name, env)
    modules, sdk = found["modules"], found["aws_sdk"]
    assert isinstance(modules, list) and isinstance(sdk, list)
    # Powertools imports botocore's package alone to see whether it is there (a few modules, no client).
    assert sdk == [], f"{name} imports {sdk[:5]} at start-up: DynamoDB and SQS go through dal.wire"
    assert "aws_xray_sdk" not in modules
    if name not in PAYMENT_FUNCTIONS:
        assert sorted({"eopayment", "zeep"} & set(modules)) == [], f"{name} imports the payment stack"


@pytest.mark.parametrize("name", ["health", "invoices"])
def test_with_the_sdk_asked_for_the_tracer_loads_it_and_still_no_payment_stack(name):
    env = {**deployed_environment(name), "XRAY_SDK": "true", "POWERTOOLS_TRACE_DISABLED": "false"}
    modules = loaded(name, env)["modules"]
    assert isinstance(modules, list)
    assert "aws_xray_sdk" in modules  # the probe sees it when it is there
    assert sorted(PAYMENT_STACK & set(modules)) == []


def test_the_authorizer_reads_one_item_with_the_standard_library():
    modules = loaded("authorizer", deployed_environment("authorizer"))["modules"]
    assert isinstance(modules, list)
    for heavy in ("boto3", "botocore", "aws_lambda_powertools", "pydantic", "argon2"):
        assert heavy not in modules, f"the authorizer imports {heavy}"


def test_the_login_function_loads_no_strength_dictionaries_at_start_up():
    modules = loaded("session", deployed_environment("session"))["modules"]
    assert isinstance(modules, list)
    assert "argon2" in modules  # the probe sees what the function does import
    assert "zxcvbn" not in modules


def test_the_decoy_hash_costs_what_a_real_hash_costs():
    # Shipped ready, so no process hashes at start-up nor on its first unknown e-mail; it must still carry
    # the current parameters, or an unknown e-mail would answer faster than a wrong password.
    from espace_famille import passwords

    assert passwords.DECOY_HASH.startswith(
        f"$argon2id$v=19$m={passwords.MEMORY_COST_KIB},t={passwords.TIME_COST},p={passwords.PARALLELISM}$"
    )
    assert not passwords.needs_rehash(passwords.DECOY_HASH)
    assert (
        passwords.verify_password(passwords.DECOY_HASH, "espace-famille: decoy password for unknown accounts") is False
    )


def test_the_probe_sees_the_adapter_and_boto3_when_they_are_imported(tmp_path):
    app = tmp_path / "app.py"
    app.write_text("import espace_famille.payfip\nimport boto3\n")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(app), str(ROOT / "shared")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"eopayment", "zeep", "lxml", "espace_famille.payfip"} <= set(found["modules"])
    assert {"boto3", "botocore.client"} <= set(found["aws_sdk"])
