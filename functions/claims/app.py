"""POST /api/claims — « Je ne trouve pas ma facture »: links the account to a debtor of a régie."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from espace_famille import claims
from espace_famille.answers import ClaimAnswer
from espace_famille.api import account_id, client_ip, lambda_handler_for, make_resolver
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.validation import Body, ShortText

init(Need.TABLE, Need.SITE)

app = make_resolver()


class Claim(Body):
    collectivite_id: ShortText
    reference: ShortText
    key: ShortText


@app.post("/api/claims", status_code=201)
def claim(body: Claim) -> Response[ClaimAnswer]:
    result = claims.claim(
        account_id(app), body.collectivite_id, body.reference, body.key, client_ip(app), system_clock()
    )
    # 200: the account was already linked, nothing new was written.
    return Response(status_code=201 if result.created else 200, content_type="application/json", body=result.answer())


handler = lambda_handler_for(app)
