"""schemathesis hooks for tests/fuzz.py: in the stateful run, claims name a demo invoice, so that links are followed."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

# The demo data's claim triples (infra/demo), spelled as parents type them: spaces and case do not matter.
DEMO_CLAIMS = [
    {"collectivite_id": "JOLIEVILLE", "reference": "2017-WI-00-9710", "key": "K9710"},
    {"collectivite_id": "jolieville", "reference": " 2017-ga-00 -0001 ", "key": "kga01"},
    {"collectivite_id": " JOLIEVILLE", "reference": "2017-MA-00-0001", "key": "K MA01"},
]
# Set by tests/fuzz.py for its stateful run only: random claims would spend the account's allowance of
# failed claims (5 an hour) at once, and every claim after that, the demo's too, would be refused.
CLAIM_DEMO = "FUZZ_CLAIM_DEMO"


@schemathesis.hook("flatmap_body").apply_to(method="POST", path="/api/claims")  # type: ignore[attr-defined]
def demo_claims(context: Any, body: Any) -> Any:
    if os.environ.get(CLAIM_DEMO) != "1":
        return st.just(body)
    return st.sampled_from(DEMO_CLAIMS)


@schemathesis.hook("map_body").apply_to(method="POST", path="/api/payments")  # type: ignore[attr-defined]
def payer_address(context: Any, body: Any) -> Any:
    # PayFiP takes addresses of 6 to 80 characters: a random one would stop every payment before PayFiP.
    if os.environ.get(CLAIM_DEMO) == "1" and isinstance(body, dict):
        return {**body, "email": "parent@example.org"}
    return body
