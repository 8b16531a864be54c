"""« Mes factures » : the three views, an invoice's detail with its lines, hiding and showing an invoice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from espace_famille import invoices
from espace_famille.api import account_id, lambda_handler_for, make_resolver
from espace_famille.clock import system_clock
from espace_famille.config import Need, init

SETTINGS = init(Need.TABLE, Need.SITE)

# No body anywhere, and the listing's three query parameters are checked by invoices.listing_query.
app = make_resolver(validation=False)


@app.get("/api/invoices")
def list_invoices() -> dict[str, Any]:
    view, limit, cursor = invoices.listing_query(app.current_event.query_string_parameters or {})
    return invoices.list_invoices(account_id(app), view, limit, cursor, system_clock())


@app.get("/api/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> dict[str, Any]:
    return invoices.detail(account_id(app), invoice_id, system_clock())


@app.put("/api/invoices/<invoice_id>/hidden")
def hide(invoice_id: str) -> Response[str]:
    invoices.set_hidden(account_id(app), invoice_id, True, system_clock())
    return Response(status_code=204, body="")


@app.delete("/api/invoices/<invoice_id>/hidden")
def show(invoice_id: str) -> Response[str]:
    invoices.set_hidden(account_id(app), invoice_id, False, system_clock())
    return Response(status_code=204, body="")


handler = lambda_handler_for(app)
