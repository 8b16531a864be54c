"""« Mes factures » : the three views, an invoice's detail with its lines, hiding and showing an invoice."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from espace_famille import invoices
from espace_famille.answers import InvoiceDetail, InvoicePage
from espace_famille.api import account_id, lambda_handler_for, make_resolver, no_content
from espace_famille.clock import system_clock
from espace_famille.config import Need, init
from espace_famille.model import View

init(Need.TABLE, Need.SITE)

app = make_resolver()


@app.get("/api/invoices")
def list_invoices(
    view: Annotated[
        View, Query(description="current: open, not hidden; paid: paid, not hidden; hidden")
    ] = View.CURRENT,
    limit: Annotated[
        int, Query(ge=1, le=invoices.MAX_LIMIT, description="the paid view's page size (the others are whole)")
    ] = invoices.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="the paid view's next_cursor")] = None,
) -> InvoicePage:
    return invoices.list_invoices(account_id(app), view, limit, cursor, system_clock())


@app.get("/api/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> InvoiceDetail:
    return invoices.detail(account_id(app), invoice_id, system_clock())


@app.put("/api/invoices/<invoice_id>/hidden", status_code=204)
def hide(invoice_id: str) -> Response[None]:
    invoices.set_hidden(account_id(app), invoice_id, True, system_clock())
    return no_content()


@app.delete("/api/invoices/<invoice_id>/hidden", status_code=204)
def show(invoice_id: str) -> Response[None]:
    invoices.set_hidden(account_id(app), invoice_id, False, system_clock())
    return no_content()


handler = lambda_handler_for(app)
