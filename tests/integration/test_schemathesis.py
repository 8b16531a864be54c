"""The API against its own OpenAPI document: schemathesis on a stack of its own, logged in (make fuzz runs longer)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests import fuzz
from tests.support import running_stack

pytestmark = pytest.mark.integration

# Bounded for make test (about a minute on two cores); make fuzz runs 200 examples and 300 scenarios.
MAX_EXAMPLES = 25
STATEFUL_EXAMPLES = 100


def _answers(log_text: str) -> Counter[str]:
    """The gateway's answers as `METHOD /path/shape STATUS`, invoice and payment ids folded to {id}."""
    found = re.findall(r"^\[gateway\] (\S+) (\S+) (\d{3}) ", log_text, re.MULTILINE)
    return Counter(f"{m} {re.sub(r'/[a-z2-7]{26}(?=/|$)', '/{id}', p)} {s}" for m, p, s in found)


# Its own stack, two accounts and two schemathesis runs: more than the suite's default 300 s on a loaded machine.
@pytest.mark.timeout(900)
def test_every_answer_conforms_to_the_document_and_links_are_followed():
    document = json.loads(fuzz.DOCUMENT.read_text(encoding="utf-8"))
    operations = {o["operationId"] for item in document["paths"].values() for o in item.values()}
    with running_stack() as (stack, log):
        runs = fuzz.fuzz(stack.url, MAX_EXAMPLES, STATEFUL_EXAMPLES, timeout=600)
        answers = _answers(log.read_text(encoding="utf-8"))
    for run in runs:
        print(run.figures())
        assert run.ok, run.output[-15000:]
        assert run.report["failures"] == [] and run.report["errors"] == []
    operations_run, stateful = runs
    assert operations_run.report["operations"]["tested"] == len(operations - set(fuzz.EXCLUDED_OPERATIONS))
    assert operations_run.report["test_cases"]["generated"] >= MAX_EXAMPLES
    # Nothing answered 5xx, not even API Gateway for a crashed function.
    assert not [a for a in answers if a.endswith(tuple(f" 5{n:02d}" for n in range(100)))], answers
    # claim → list → detail → hide, with the ids each answer gave.
    assert stateful.links_covered >= 4, stateful.output[-5000:]
    for step in ("POST /api/claims 200", "GET /api/invoices 200", "GET /api/invoices/{id} 200"):
        assert answers[step] > 0, (step, answers)
    assert answers["PUT /api/invoices/{id}/hidden 204"] > 0, answers
