"""Payments through the local gateway and the PayFiP emulator: the parent's flow, PayFiP's ways, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from espace_famille.dal import keys
from espace_famille.dal.table import from_ddb, to_ddb
from espace_famille.model import invoice_id
from tests.integration.test_invoices import claim, import_rows, invoice_row, setup_collectivite
from tests.support import (
    ROOT,
    Client,
    calls,
    queued,
    reset_calls,
    reset_queued,
    signed_up,
    unique_email,
    wait_for_mail,
)

pytestmark = pytest.mark.integration

EMAIL = "parent.paie@example.org"


@dataclass
class Family:
    stack: Any
    cid: str
    parent: Client
    rows: dict[str, dict[str, Any]]

    def id(self, name: str) -> str:
        return invoice_id(self.cid, self.rows[name]["reference"])

    def pay(self, *names: str, email: str = EMAIL) -> httpx.Response:
        return self.parent.post("/api/payments", json={"invoice_ids": [self.id(n) for n in names], "email": email})

    def invoice(self, name: str) -> dict[str, Any]:
        got = self.parent.get(f"/api/invoices/{self.id(name)}")
        assert got.status_code == 200, got.text
        result: dict[str, Any] = got.json()
        return result

    def payment(self, pid: str) -> dict[str, Any]:
        got = self.parent.get(f"/api/payments/{pid}")
        assert got.status_code == 200, got.text
        result: dict[str, Any] = got.json()
        return result


def family(stack) -> Family:
    cid = f"Y{uuid.uuid4().hex[:10].upper()}"
    setup_collectivite(stack, cid)
    rows = {
        "c1": invoice_row(cid, f"{cid}-C1", amount="23.45"),
        "c2": invoice_row(cid, f"{cid}-C2", amount="12.00"),
        "paid": invoice_row(cid, f"{cid}-C3", status="paid", paid_at="2026-09-02T10:00:00Z", issued_on="2026-08-01"),
        "cancelled": invoice_row(cid, f"{cid}-C4", status="cancelled"),
        "garderie": invoice_row(cid, f"{cid}-G1", rid="GARDERIE"),
        "stranger": invoice_row(cid, f"{cid}-S1", debtor="D2"),
    }
    import_rows(stack, list(rows.values()))
    parent = signed_up(stack.url)
    assert claim(parent, cid, rows["c1"]).status_code == 201
    assert claim(parent, cid, rows["garderie"]).status_code == 201
    return Family(stack, cid, parent, rows)


def _item(stack, key: dict[str, str]) -> dict[str, Any] | None:
    raw = (
        stack.aws.client("dynamodb")
        .get_item(TableName=stack.info()["tables"]["Table"], Key=to_ddb(key), ConsistentRead=True)
        .get("Item")
    )
    return from_ddb(raw) if raw else None


def _idop(fam: Family, pid: str) -> str:
    item = _item(fam.stack, keys.payment(pid))
    assert item is not None
    return str(item["provider_ref"])


def _browser_pays(redirect_url: str, resultrans: str) -> httpx.Response:
    """The parent's browser on the PayFiP page: one button, then PayFiP's 303 back to the portal."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(redirect_url)
        assert page.status_code == 200 and "Payer" in page.text
        return browser.post(redirect_url, data={"resultrans": resultrans}, follow_redirects=False)


@pytest.fixture
def emulator(stack):
    stack.payfip.configure(notifications="deliver", fault=None, clock_offset_seconds=0)
    yield stack.payfip
    stack.payfip.configure(notifications="deliver", fault=None, clock_offset_seconds=0)


# -- the parent's flow ---------------------------------------------------------------------------------
def test_pay_two_invoices_through_payfip_with_one_receipt(stack, emulator):
    fam = family(stack)
    before = fam.parent.get("/api/invoices").json()
    assert before["total_due_cents"] == 2345 + 1200 + 1000
    payer = unique_email("payeur")
    started = fam.pay("c1", "c2", email=payer)
    assert started.status_code == 201, started.text
    body = started.json()
    assert set(body) == {"payment_id", "redirect_url", "amount_cents"} and body["amount_cents"] == 3545
    pid = body["payment_id"]
    assert body["redirect_url"].startswith(emulator.page_url + "?idop=")
    # While the parent is on PayFiP's page, the invoices are locked.
    assert fam.invoice("c1")["not_payable_reason"] == "payment_in_progress"
    assert fam.parent.get("/api/invoices").json()["total_due_cents"] == 1000
    created = next(p for p in emulator.payments() if p["idop"] == _idop(fam, pid))
    assert created["refdet"] == pid.upper() and created["montant"] == "3545" and created["numcli"] == "000001"
    assert created["urlredirect"] == f"{stack.url}/paiement/retour?payment={pid}"
    assert created["urlnotif"] == f"{stack.url}/webhooks/payfip"

    back = _browser_pays(body["redirect_url"], "P")
    assert back.status_code == 303
    assert back.headers["location"].startswith(f"{stack.url}/paiement/retour?payment={pid}")
    recap = fam.payment(pid)
    assert recap["status"] == "paid" and recap["amount_cents"] == 3545 and recap["paid_at"]
    assert [i["reference"] for i in recap["invoices"]] == [fam.rows["c1"]["reference"], fam.rows["c2"]["reference"]]
    for name in ("c1", "c2"):
        inv = fam.invoice(name)
        assert inv["status"] == "paid" and inv["payment_id"] == pid and inv["not_payable_reason"] == "paid"
    paid_view = [i["reference"] for i in fam.parent.get("/api/invoices?view=paid").json()["invoices"]]
    assert fam.rows["c1"]["reference"] in paid_view
    listed = fam.parent.get("/api/payments").json()["payments"]
    assert [p["payment_id"] for p in listed] == [pid]
    (receipt,) = wait_for_mail(fam.parent, payer)
    assert "Restauration" in receipt["subject"] or "CANTINE" in receipt["subject"]
    text = receipt["text"]
    assert "35,45 €" in text and fam.rows["c1"]["reference"] in text and fam.rows["c2"]["reference"] in text
    assert recap["transaction_number"] and recap["transaction_number"] in text


@pytest.mark.parametrize(("button", "status"), [("R", "refused"), ("A", "cancelled")])
def test_refuse_and_abandon_release_the_invoices(stack, emulator, button, status):
    fam = family(stack)
    body = fam.pay("c1").json()
    assert _browser_pays(body["redirect_url"], button).status_code == 303
    assert fam.payment(body["payment_id"])["status"] == status
    assert fam.invoice("c1")["payable"] is True
    assert fam.pay("c1").status_code == 201


def test_lost_notification_is_resolved_by_the_return_read(stack, emulator):
    fam = family(stack)
    body = fam.pay("c1").json()
    emulator.settle(_idop(fam, body["payment_id"]), "P", notify=False)
    assert fam.payment(body["payment_id"])["status"] == "paid"


def test_lost_notification_is_resolved_by_reconciliation(stack, emulator):
    fam = family(stack)
    body = fam.pay("c1").json()
    emulator.settle(_idop(fam, body["payment_id"]), "V", notify=False)
    ran = fam.parent.post("/__local__/schedules/ReconcileFunction")
    assert ran.status_code == 200, ran.text
    assert _item(stack, keys.payment(body["payment_id"]))["status"] == "paid"  # type: ignore[index]


def test_ten_notifications_apply_once(stack, emulator):
    fam = family(stack)
    payer = unique_email("payeur")
    body = fam.pay("c1", email=payer).json()
    emulator.configure(notifications="repeat", repeat=10)
    reset_queued(fam.parent)
    assert _browser_pays(body["redirect_url"], "P").status_code == 303
    emulator.flush()
    payment = _item(stack, keys.payment(body["payment_id"]))
    assert payment is not None and payment["status"] == "paid"
    assert [h["status"] for h in payment["history"]] == ["pending", "paid"]
    # One receipt queued, whatever the number of notifications; and it arrives.
    assert queued(fam.parent) == 1
    assert len(wait_for_mail(fam.parent, payer)) == 1
    # And a notification of an idop already processed answers 200.
    again = httpx.post(stack.url + "/webhooks/payfip", data={"idop": _idop(fam, body["payment_id"])})
    assert again.status_code == 200 and again.json()["payment_status"] == "paid"


def test_notification_after_the_browser_came_back(stack, emulator):
    fam = family(stack)
    body = fam.pay("c1").json()
    emulator.configure(notifications="drop")
    assert _browser_pays(body["redirect_url"], "P").status_code == 303
    assert fam.payment(body["payment_id"])["status"] == "paid"  # the return read asked PayFiP
    late = httpx.post(stack.url + "/webhooks/payfip", data={"idop": _idop(fam, body["payment_id"])})
    assert late.status_code == 200 and late.json()["payment_status"] == "paid"
    assert fam.invoice("c1")["payment_id"] == body["payment_id"]


def test_twenty_simultaneous_initiations_of_one_invoice(stack, emulator):
    fam = family(stack)
    clients = [Client(stack.url) for _ in range(20)]
    for c in clients:
        c.jar = dict(fam.parent.jar)
    payload = {"invoice_ids": [fam.id("c1")], "email": EMAIL}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda c: c.post("/api/payments", json=payload), clients))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19, [a.text for a in answers if a.status_code not in (201, 409)]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"payment_in_progress"}
    for c in clients:
        c.close()


def test_an_expired_lock_lets_a_new_payment_start(stack, emulator):
    fam = family(stack)
    first = fam.pay("c1").json()["payment_id"]
    assert (fam.pay("c1").status_code, fam.pay("c1").json()["error"]) == (409, "payment_in_progress")
    # Twenty minutes later (the lock's time moved back rather than the functions' clock forward).
    stack.aws.client("dynamodb").update_item(
        TableName=stack.info()["tables"]["Table"],
        Key=to_ddb(keys.invoice(fam.id("c1"))),
        UpdateExpression="SET lock_until = :u",
        ExpressionAttributeValues={":u": {"S": "2020-01-01T00:00:00.000000Z"}},
    )
    assert fam.invoice("c1")["payable"] is True
    second = fam.pay("c1")
    assert second.status_code == 201, second.text
    assert second.json()["payment_id"] != first
    assert _item(stack, keys.invoice(fam.id("c1")))["lock_payment_id"] == second.json()["payment_id"]  # type: ignore[index]


# -- refusals ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "status", "code"),
    [
        (("c1", "garderie"), 422, "several_regies"),
        (("paid",), 422, "not_payable"),
        (("cancelled",), 422, "not_payable"),
        (("stranger",), 404, "not_found"),
        (("c1", "c1"), 422, "validation_error"),
    ],
)
def test_refused_initiations_call_nobody_and_lock_nothing(stack, emulator, names, status, code):
    fam = family(stack)
    before = len(emulator.payments())
    answer = fam.pay(*names)
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert len(emulator.payments()) == before
    assert fam.invoice("c1")["payable"] is True
    assert fam.parent.get("/api/payments").json()["payments"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"invoice_ids": [], "email": EMAIL}, "validation_error"),
        ({"invoice_ids": [f"x{n}" for n in range(51)], "email": EMAIL}, "too_many_invoices"),
        ({"invoice_ids": "abc", "email": EMAIL}, "validation_error"),
        ({"invoice_ids": [1], "email": EMAIL}, "validation_error"),
        ({"invoice_ids": ["abc"]}, "validation_error"),
        ({"invoice_ids": ["abc"], "email": EMAIL, "amount_cents": 1}, "validation_error"),
    ],
)
def test_bad_bodies(stack, emulator, body, code):
    fam = family(stack)
    answer = fam.parent.post("/api/payments", json=body)
    assert answer.status_code == 422 and answer.json()["error"] == code, answer.text


def test_email_of_81_characters_is_refused_before_payfip(stack, emulator):
    fam = family(stack)
    before = len(emulator.payments())
    answer = fam.pay("c1", email="x" * 70 + "@example.fr")
    assert (answer.status_code, answer.json()["error"]) == (422, "validation_error")
    assert len(emulator.payments()) == before and fam.invoice("c1")["payable"] is True
    assert fam.pay("c1", email="x" * 69 + "@example.fr").status_code == 201


def test_provider_down_answers_503_and_releases_the_locks(stack, emulator):
    fam = family(stack)
    emulator.configure(fault="TechIndisponibiliteErreur")
    answer = fam.pay("c1", "c2")
    assert (answer.status_code, answer.json()["error"]) == (503, "provider_unavailable")
    assert fam.invoice("c1")["payable"] is True and fam.invoice("c2")["payable"] is True
    (payment,) = fam.parent.get("/api/payments").json()["payments"]
    assert payment["status"] == "error"
    emulator.configure(fault=None)
    assert fam.pay("c1", "c2").status_code == 201


def test_amount_mismatch_is_an_anomaly_and_the_invoice_is_held(stack, emulator, tmp_path):
    fam = family(stack)
    body = fam.pay("c1").json()
    pid = body["payment_id"]
    # What PayFiP will report no longer matches what is stored (a tampered or corrupted amount).
    stack.aws.client("dynamodb").update_item(
        TableName=stack.info()["tables"]["Table"],
        Key=to_ddb(keys.payment(pid)),
        UpdateExpression="SET amount_cents = :a",
        ExpressionAttributeValues={":a": {"N": "2300"}},
    )
    assert _browser_pays(body["redirect_url"], "P").status_code == 303
    assert fam.payment(pid)["status"] == "anomaly"
    inv = fam.invoice("c1")
    assert inv["status"] == "open" and inv["payable"] is False and inv["not_payable_reason"] == "being_checked"
    assert (fam.pay("c1").status_code, fam.pay("c1").json()["error"]) == (422, "not_payable")
    assert fam.parent.get("/api/invoices").json()["total_due_cents"] == 1200 + 1000  # c2 and the garderie

    # Operations list it with what is known, then lift the hold once settled with the trésorerie.
    state = tmp_path / "stack.json"
    state.write_text(json.dumps(stack.info()), encoding="utf-8")
    listed = _cli("payments", "anomalies", "--state-file", str(state))
    assert listed.returncode == 0, listed.stderr
    assert pid in listed.stdout and "amount 2345 instead of 2300" in listed.stdout
    assert fam.rows["c1"]["reference"] in listed.stdout and _idop(fam, pid) in listed.stdout
    as_json = json.loads(_cli("payments", "anomalies", "--json", "--state-file", str(state)).stdout)
    assert pid in [a["payment_id"] for a in as_json]
    done = _cli("payments", "resolve", pid, "--note", "remboursé par la trésorerie", "--state-file", str(state))
    assert done.returncode == 0, done.stderr
    assert fam.invoice("c1")["payable"] is True
    assert pid not in _cli("payments", "anomalies", "--state-file", str(state)).stdout
    assert fam.payment(pid)["status"] == "anomaly"  # the record stays


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("espace-famille")
    return subprocess.run([str(command), *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_a_regie_without_online_payment(stack, emulator):
    cid = f"Y{uuid.uuid4().hex[:10].upper()}"
    rows: list[dict[str, Any]] = [
        {"kind": "collectivite", "collectivite_id": cid, "name": f"Ville de {cid}"},
        {
            "kind": "regie",
            "collectivite_id": cid,
            "regie_id": "CANTINE",
            "name": "Cantine",
            "payment_backend": "none",
            "payment_options": {},
        },
    ]
    import_rows(stack, rows)
    row = invoice_row(cid, f"{cid}-N1")
    import_rows(stack, [row])
    parent = signed_up(stack.url)
    assert claim(parent, cid, row).status_code == 201
    listed = parent.get("/api/invoices").json()
    assert [(i["payable"], i["not_payable_reason"]) for i in listed["invoices"]] == [
        (False, "regie_not_payable_online")
    ]
    assert listed["total_due_cents"] == 0
    answer = parent.post("/api/payments", json={"invoice_ids": [invoice_id(cid, row["reference"])], "email": EMAIL})
    assert (answer.status_code, answer.json()["error"]) == (422, "not_payable")


# -- forged notifications --------------------------------------------------------------------------------
def test_forged_notifications_change_nothing_and_never_5xx(stack, emulator):
    fam = family(stack)
    body = fam.pay("c1").json()
    # An idop PayFiP really issued, but for another régie's payment that is not ours.
    foreign = emulator_create(emulator, stack)
    attempts = [
        {"data": {"idop": str(uuid.uuid4())}},
        {"data": {"idop": "<script>"}},
        {"data": {"idop": "x" * 5000}},
        {"data": {"idop": foreign}},
        {"data": {}},
        {"content": b"\xff\xfe idop", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        {"json": {"idop": str(uuid.uuid4())}},
        {"params": {"idop": "../../"}},
    ]
    for kw in attempts:
        answer = httpx.post(stack.url + "/webhooks/payfip", **kw)  # type: ignore[arg-type]
        assert answer.status_code in (400, 404, 422), (kw, answer.status_code, answer.text)
        assert "error" in answer.json()
    assert _item(stack, keys.payment(body["payment_id"]))["status"] == "pending"  # type: ignore[index]
    assert fam.invoice("c1")["not_payable_reason"] == "payment_in_progress"


def emulator_create(emulator, stack) -> str:
    from espace_famille.payfip import PayfipClient, PayfipEndpoints

    client = PayfipClient(PayfipEndpoints(emulator.service_url, emulator.page_url), timeout=5)
    idop = client.create_payment(
        numcli="000003",
        exer=2026,
        refdet="AUTREREGIE0001",
        amount_cents=100,
        email="x@example.org",
        objet="Autre",
        saisie="T",
        urlnotif="http://127.0.0.1:9/none",
        urlredirect="http://127.0.0.1:9/none",
    )
    emulator.settle(idop, "P", notify=False)
    return idop


# -- cost ------------------------------------------------------------------------------------------------
def test_dynamodb_calls_per_initiation_and_per_notification(stack, emulator):
    fam = family(stack)
    payer = unique_email("payeur")
    reset_calls(fam.parent)
    body = fam.pay("c1", "c2", email=payer).json()
    initiation = calls(fam.parent)
    idop = _idop(fam, body["payment_id"])
    emulator.settle(idop, "P", notify=False)
    reset_calls(fam.parent)
    assert httpx.post(stack.url + "/webhooks/payfip", data={"idop": idop}).status_code == 200
    # The receipt goes out meanwhile: wait for it, so that the mail function's calls are all in the count.
    assert len(wait_for_mail(fam.parent, payer)) == 1
    notification = calls(fam.parent)
    # Initiation: the session (authorizer), the invoices, the links and régie; the lock transaction; the idop.
    assert initiation == {"GetItem": 1, "BatchGetItem": 2, "TransactWriteItems": 2}, initiation
    # Notification: the idop, the payment, the invoices; one transaction (payment, invoices, receipt). The
    # two UpdateItem are the mail function's (it claims the receipt, then marks it sent).
    assert notification == {"GetItem": 2, "BatchGetItem": 1, "TransactWriteItems": 1, "UpdateItem": 2}, notification
