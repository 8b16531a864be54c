"""The API's answer models: built from the domain's records, the wire's field names and values, and every
route of every API function declares one (so Powertools knows its response schema)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from aws_lambda_powertools.event_handler import Response
from pydantic import ValidationError

from espace_famille import answers, invoices, payments
from espace_famille.api import make_resolver, no_content
from espace_famille.dal.payments import PaidInvoice, Payment
from espace_famille.model import (
    PAID_EXTERNALLY,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    NotPayableReason,
    PaymentStatus,
    Regie,
    View,
    invoice_id,
)
from infra.cfn import load_template
from tests.support import ROOT

NOW = "2026-03-01T10:00:00.000000Z"
PAYFIP = Regie("JOLIEVILLE", "CANTINE", "Cantine", "payfip", {"numcli": "123456"})
INVOICE_FIELDS = [
    "id",
    "collectivite_id",
    "collectivite_name",
    "regie_id",
    "regie_name",
    "reference",
    "debtor_name",
    "issued_on",
    "due_on",
    "amount_cents",
    "status",
    "paid_at",
    "payment_id",
    "hidden",
    "payable",
    "not_payable_reason",
]


def _invoice(**changes: object) -> Invoice:
    fields: dict[str, object] = {
        "collectivite_id": "JOLIEVILLE",
        "regie_id": "CANTINE",
        "reference": "2026-CA-00042",
        "key_digest": "d" * 64,
        "debtor_id": "D1",
        "debtor_name": "Famille Dupré",
        "issued_on": "2026-01-31",
        "due_on": "2026-02-28",
        "amount_cents": 2345,
        "status": "open",
        **changes,
    }
    return Invoice(**fields)  # type: ignore[arg-type]


def _wire(answer: answers.Answer) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(answer.model_dump_json())
    return loaded


def test_an_open_invoice_of_a_payfip_regie_is_payable_with_every_documented_field_in_order():
    shown = invoices.answer(_invoice(), "Jolieville", "Cantine", PAYFIP, False, NOW)
    assert list(_wire(shown)) == INVOICE_FIELDS
    assert _wire(shown) == {
        "id": invoice_id("JOLIEVILLE", "2026-CA-00042"),
        "collectivite_id": "JOLIEVILLE",
        "collectivite_name": "Jolieville",
        "regie_id": "CANTINE",
        "regie_name": "Cantine",
        "reference": "2026-CA-00042",
        "debtor_name": "Famille Dupré",
        "issued_on": "2026-01-31",
        "due_on": "2026-02-28",
        "amount_cents": 2345,
        "status": "open",
        "paid_at": None,
        "payment_id": None,
        "hidden": False,
        "payable": True,
        "not_payable_reason": None,
    }


def test_an_invoice_paid_at_the_tresorerie_names_no_payment_and_says_why_it_is_not_payable():
    paid = _invoice(status="paid", paid_at="2026-02-01T09:00:00.000000Z", paid_by=PAID_EXTERNALLY)
    wire = _wire(invoices.answer(paid, "Jolieville", "Cantine", PAYFIP, True, NOW))
    assert (wire["status"], wire["payment_id"], wire["paid_at"]) == ("paid", None, "2026-02-01T09:00:00.000000Z")
    assert (wire["hidden"], wire["payable"], wire["not_payable_reason"]) == (True, False, "paid")
    by_us = _invoice(status="paid", paid_at="2026-02-01T09:00:00.000000Z", paid_by="p" * 26)
    assert _wire(invoices.answer(by_us, "J", "C", PAYFIP, False, NOW))["payment_id"] == "p" * 26


@pytest.mark.parametrize(
    ("invoice", "regie", "reason"),
    [
        (_invoice(status="cancelled"), PAYFIP, "cancelled"),
        (_invoice(lock_payment_id="p", lock_until="2026-03-01T10:00:00.000001Z"), PAYFIP, "payment_in_progress"),
        (_invoice(), Regie("JOLIEVILLE", "CANTINE", "Cantine", "none"), "regie_not_payable_online"),
        (_invoice(), None, "regie_not_payable_online"),
    ],
)
def test_each_reason_goes_on_the_wire_as_its_documented_string(invoice, regie, reason):
    wire = _wire(invoices.answer(invoice, "J", "C", regie, False, NOW))
    assert (wire["payable"], wire["not_payable_reason"]) == (False, reason)


def test_a_detail_is_the_invoice_and_its_lines_with_whole_quantities_as_integers():
    lines = [
        InvoiceLine("JOLIEVILLE", "2026-CA-00042", 1, "Repas", Decimal("7"), 335, 2345),
        InvoiceLine("JOLIEVILLE", "2026-CA-00042", 2, "Garderie", Decimal("1.5"), 200, 300),
    ]
    shown = invoices.answer(_invoice(), "J", "C", PAYFIP, False, NOW)
    detail = answers.InvoiceDetail(
        **shown.model_dump(), lines=[answers.InvoiceLineAnswer(**line.as_json()) for line in lines]
    )
    wire = _wire(detail)
    assert list(wire) == [*INVOICE_FIELDS, "lines"]
    assert wire["lines"] == [
        {"label": "Repas", "quantity": 7, "unit_price_cents": 335, "amount_cents": 2345},
        {"label": "Garderie", "quantity": 1.5, "unit_price_cents": 200, "amount_cents": 300},
    ]
    assert json.dumps(wire["lines"]).count("7.0") == 0


def test_a_payment_shows_when_and_the_transaction_only_once_paid_and_every_status_is_its_string():
    pending = Payment(
        payment_id="p" * 26,
        reference="P" * 26,
        account_id="a",
        collectivite_id="JOLIEVILLE",
        regie_id="CANTINE",
        regie_name="Cantine",
        backend="payfip",
        numcli="123456",
        invoices=(PaidInvoice("i" * 26, "2026-CA-00042", 2345),),
        amount_cents=2345,
        email="parent@example.org",
        status="pending",
        created_at=NOW,
        updated_at=NOW,
        paid_at="2026-03-01T10:05:00.000000Z",
        transaction_number="123",
        lock_until=NOW,
    )
    wire = _wire(payments.answer(pending))
    assert list(wire) == [
        "payment_id",
        "status",
        "amount_cents",
        "collectivite_id",
        "regie_id",
        "regie_name",
        "reference",
        "invoices",
        "created_at",
        "paid_at",
        "transaction_number",
    ]
    assert (wire["status"], wire["paid_at"], wire["transaction_number"]) == ("pending", None, None)
    assert wire["invoices"] == [{"id": "i" * 26, "reference": "2026-CA-00042", "amount_cents": 2345}]
    paid = _wire(payments.answer(Payment(**{**pending.__dict__, "status": "paid"})))
    assert (paid["paid_at"], paid["transaction_number"]) == ("2026-03-01T10:05:00.000000Z", "123")
    for status in PaymentStatus:
        assert _wire(payments.answer(Payment(**{**pending.__dict__, "status": status.value})))["status"] == status


def test_enum_values_are_the_strings_of_the_contract():
    assert [s.value for s in InvoiceStatus] == ["open", "paid", "cancelled"]
    assert [v.value for v in View] == ["current", "paid", "hidden"]
    assert [s.value for s in PaymentStatus] == [
        "pending",
        "paid",
        "refused",
        "cancelled",
        "expired",
        "error",
        "anomaly",
        "refunded",
    ]
    assert {r.value for r in NotPayableReason} == {
        "paid",
        "cancelled",
        "payment_in_progress",
        "being_checked",
        "regie_not_payable_online",
    }
    assert PAID_EXTERNALLY == "external"


def test_status_answers_and_the_error_envelope():
    assert _wire(answers.ConfirmationSent()) == {"status": "confirmation_sent"}
    assert _wire(answers.ResetSent()) == {"status": "reset_sent"}
    assert _wire(answers.Health()) == {"status": "ok"}
    processed = answers.NotificationProcessed(payment_status=PaymentStatus.PAID)
    assert _wire(processed) == {"status": "processed", "payment_status": "paid"}
    assert _wire(answers.ErrorAnswer(error="not_found", message="Introuvable.")) == {
        "error": "not_found",
        "message": "Introuvable.",
    }


def test_an_answer_refuses_a_field_the_contract_does_not_have_or_a_status_it_does_not_know():
    with pytest.raises(ValidationError):
        answers.ErrorAnswer(error="x", message="y", detail="z")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        answers.NotificationProcessed(payment_status="lost")  # type: ignore[arg-type]


# -- every route declares its answer ---------------------------------------------------------------------
API_FUNCTIONS = sorted(
    p.parent.name for p in (ROOT / "functions").glob("*/app.py") if "make_resolver(" in p.read_text(encoding="utf-8")
)
PROBE = """
import importlib.util, json, sys, typing
sys.path[:0] = [sys.argv[2]]
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from pydantic import BaseModel
routes = []
for route in module.app._static_routes + module.app._dynamic_routes:
    declared = route.dependant.return_param
    kind = None if declared is None else declared.field_info.annotation
    routes.append({
        "route": f"{route.method} {route.openapi_path}",
        "status": int(route.status_code),
        "model": kind.__name__ if isinstance(kind, type) else repr(kind),
        "pydantic": isinstance(kind, type) and issubclass(kind, BaseModel),
        "validation": module.app._enable_validation,
    })
print(json.dumps(routes))
"""


def _declared(name: str) -> list[dict[str, object]]:
    template = load_template(ROOT / "template.yaml", {"SiteUrl": "https://portail.example"})
    function = next(f for f in template.functions.values() if f.code_uri.name == name)
    env = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "eu-west-3"}
    env.update({k: str(v) for k, v in function.environment.items()})
    app = ROOT / "functions" / name / "app.py"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(app), str(ROOT / "shared")],
        cwd=app.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    routes: list[dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return routes


def test_every_api_route_declares_an_answer_model_or_no_body():
    assert len(API_FUNCTIONS) == 8
    declared = [r for name in API_FUNCTIONS for r in _declared(name)]
    models = {name for name in vars(answers) if isinstance(getattr(answers, name), type)}
    for route in declared:
        assert route["validation"] is True, route
        if route["status"] == 204:
            assert route["model"] == "NoneType", route
        else:
            assert route["pydantic"] is True and route["model"] in models, route
    # The same routes as the template's, path parameters named alike (the OpenAPI document's paths are these).
    template = load_template(ROOT / "template.yaml", {"SiteUrl": "https://portail.example"})
    api_routes = {r.route_key for r in template.routes if r.path.startswith(("/api/", "/webhooks/"))}
    assert {str(r["route"]) for r in declared} == api_routes


# -- the resolver serialises the declared answers --------------------------------------------------------
def _get(app, path: str) -> dict[str, object]:
    event = {
        "version": "2.0",
        "routeKey": f"GET {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "192.0.2.1"}, "stage": "$default"},
        "isBase64Encoded": False,
    }
    result: dict[str, object] = app.resolve(event, None)
    return result


def test_the_resolver_sends_an_answer_as_its_wire_json_and_a_wrong_one_as_a_500_in_the_envelope():
    app = make_resolver()

    @app.get("/ok")
    def ok() -> answers.NotificationProcessed:
        return answers.NotificationProcessed(payment_status=PaymentStatus.REFUNDED)

    @app.get("/wrong")
    def wrong() -> answers.Health:
        return answers.ResetSent()  # type: ignore[return-value]

    @app.get("/nothing", status_code=204)
    def nothing() -> Response[None]:
        return no_content()

    good = _get(app, "/ok")
    assert (good["statusCode"], json.loads(str(good["body"]))) == (
        200,
        {"status": "processed", "payment_status": "refunded"},
    )
    bad = _get(app, "/wrong")
    assert bad["statusCode"] == 500
    assert json.loads(str(bad["body"]))["error"] == "internal_error"
    empty = _get(app, "/nothing")
    assert (empty["statusCode"], empty["body"]) == (204, None)  # lambda_handler_for sends it as ""
