"""Checks of what the whole test session did, run after every other test: no secret in any log, and each
function's calls against its policies in template.yaml (least privilege)."""

from __future__ import annotations

import json
import os
import warnings
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from infra.cfn import load_template
from tests.support import ROOT, SECRETS, STACK_LOGS

# Resolved as the local stacks resolve it, so that ARNs name the same tables, buckets and queues.
TEMPLATE = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"})


def test_no_log_of_the_session_holds_a_secret_it_used():
    if not STACK_LOGS:
        pytest.skip("no local stack ran in this session")
    assert SECRETS, "the stacks ran but no password, token, key or cookie was noted: tests/support.py broke"
    leaks = []
    for log in STACK_LOGS:
        text = log.read_text(encoding="utf-8", errors="replace")
        for secret in SECRETS:
            at = text.find(secret)
            if at >= 0:
                shown = f"{secret[:3]}…({len(secret)} characters)"
                leaks.append(f"{log.name}: {shown} in …{text[max(0, at - 80) : at + len(secret) + 20]!r}…")
    assert not leaks, f"{len(leaks)} secret(s) in the logs:\n" + "\n".join(leaks[:20])


# Grants the code needs on paths the suite does not reach through a stack, each with the path. An entry the
# suite does exercise fails the test, so this list only ever shrinks.
NOT_EXERCISED = {
    ("PaymentsFunction", "dynamodb:ConditionCheckItem"): "settle's `leave` check, when a payment given up on "
    "has an invoice another payment holds (payments._give_up)",
    ("PayfipWebhookFunction", "dynamodb:ConditionCheckItem"): "settle's `leave` check, for an invoice of the "
    "payment that changed hands before the result came",
    ("ReconcileFunction", "dynamodb:ConditionCheckItem"): "the same `leave` check, from reconciliation",
    ("ReconcileFunction", "dynamodb:GetItem"): "apply's consistent read again after a cancelled transaction",
}


def granted(function: str) -> list[tuple[str, str]]:
    """(action pattern, resource pattern) of each grant in the function's Policies."""
    props = TEMPLATE.resources[function].get("Properties") or {}
    out: list[tuple[str, str]] = []
    for policy in props.get("Policies") or []:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, f"{function}: only inline statements"
        for statement in TEMPLATE.resolve(policy["Statement"]):
            assert statement["Effect"] == "Allow", function
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            out.extend((action, resource) for action in actions for resource in resources)
    return out


def recorded_calls() -> dict[str, set[tuple[str, str]]]:
    calls: dict[str, set[tuple[str, str]]] = {}
    record_dir = Path(os.environ["LOCAL_IAM_RECORD_DIR"])
    for path in record_dir.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            call: dict[str, Any] = json.loads(line)
            calls.setdefault(call["function"], set()).add((call["action"], call["resource"]))
    return calls


def allows(grant: tuple[str, str], call: tuple[str, str]) -> bool:
    return fnmatchcase(call[0].lower(), grant[0].lower()) and fnmatchcase(call[1], grant[1])


def test_functions_use_exactly_what_the_template_grants_them(request):
    calls = recorded_calls()
    functions = sorted(TEMPLATE.functions)
    not_granted = [
        f"{function}: {action} on {resource}"
        for function in functions
        for action, resource in sorted(calls.get(function, ()))
        if not any(allows(grant, (action, resource)) for grant in granted(function))
    ]
    assert not not_granted, "calls the template does not grant (AWS would refuse them):\n" + "\n".join(not_granted)

    idle = [f for f in functions if f not in calls]
    if idle:
        warnings.warn(f"no AWS call of these functions in this session: {', '.join(idle)}", stacklevel=1)
    if not request.config.whole_integration_suite:
        pytest.skip("unused grants are judged on a run of the whole integration suite only")
    unused = [
        f"{function}: {action} on {resource}"
        for function in functions
        if function in calls
        for action, resource in granted(function)
        if not any(allows((action, resource), call) for call in calls[function])
        and (function, action) not in NOT_EXERCISED
    ]
    exercised = [
        f"{function}: {action}"
        for function, action in NOT_EXERCISED
        if any(fnmatchcase(call[0], action) for call in calls.get(function, ()))
    ]
    assert not exercised, "exercised now, remove from NOT_EXERCISED:\n" + "\n".join(exercised)
    assert not unused, "granted but never used by the suite (remove, or test what needs it):\n" + "\n".join(unused)
