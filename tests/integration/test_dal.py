"""Data access on moto: round trips of every record and the access patterns of docs/data-model.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from espace_famille.dal import accounts, catalog, counters, invoices, links, news, session_check, sessions, system
from espace_famille.model import (
    Account,
    Collectivite,
    Debtor,
    Invoice,
    InvoiceLine,
    Link,
    NewsItem,
    Regie,
    invoice_id,
    key_digest,
    key_matches,
    link_id,
)
from espace_famille.sessions import SessionTimes

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _cid() -> str:
    return f"D{uuid.uuid4().hex[:8].upper()}"


def _invoice(cid: str, ref: str, status: str = "open", issued_on: str = "2026-01-01", rid: str = "CANTINE") -> Invoice:
    return Invoice(
        collectivite_id=cid,
        regie_id=rid,
        reference=ref,
        key_digest=key_digest(invoice_id(cid, ref), "K1"),
        debtor_id="D1",
        debtor_name="Famille D1",
        issued_on=issued_on,
        due_on="2026-12-31",
        amount_cents=1234,
        status=status,
        paid_at="2026-02-01T10:00:00.000000Z" if status == "paid" else None,
        paid_by="external" if status == "paid" else None,
    )


def test_health_probe_reads_the_table(table):
    assert system.table_readable() is True


def test_every_record_round_trips(table):
    cid = _cid()
    records: list[catalog.Record] = [
        Collectivite(cid, "Ville"),
        Regie(cid, "CANTINE", "Restauration", "payfip", {"numcli": "000001"}),
        Debtor(cid, "CANTINE", "D1", "Famille D1"),
        _invoice(cid, f"{cid}-1"),
        InvoiceLine(cid, f"{cid}-1", 1, "Repas", Decimal("1.5"), 335, 503),
        NewsItem(cid, "N1", "2026-01-02", "Information", "Titre", "Corps\nsur deux lignes"),
    ]
    assert catalog.put_all(records) == 1
    found = catalog.lookup(records=records)
    for record in records:
        assert found.stored(record) == record
    assert found.collectivite(cid) == records[0]
    assert found.regie(cid, "CANTINE") == records[1]
    assert found.invoice(invoice_id(cid, f"{cid}-1")) == records[3]
    assert found.collectivite("ABSENT") is None


def test_lookup_spans_several_batches(table):
    cid = _cid()
    many = [_invoice(cid, f"{cid}-{i:03d}") for i in range(230)]
    catalog.put_all(many)
    found = catalog.lookup(invoices=[i.invoice_id for i in many])
    assert all(found.invoice(i.invoice_id) == i for i in many)


def test_invoice_keys_and_ids():
    iid = invoice_id("JOLIEVILLE", "2017-WI-00-9710")
    assert iid == invoice_id("JOLIEVILLE", "2017-WI-00-9710")
    assert len(iid) == 26 and iid.isalnum() and iid.islower()
    assert invoice_id("AUTREVILLE", "2017-WI-00-9710") != iid
    digest = key_digest(iid, "K9710")
    assert "K9710" not in digest
    assert key_matches(digest, iid, "K9710")
    assert not key_matches(digest, iid, "K9711")


def test_replace_open_invoice_respects_status_and_lock(table):
    cid = _cid()
    open_one = _invoice(cid, f"{cid}-1")
    catalog.put_all([open_one])
    now = "2026-05-04T10:00:00.000000Z"
    changed = Invoice(**{**open_one.__dict__, "amount_cents": 999})
    assert catalog.replace_open_invoice(changed, now) is True
    locked = Invoice(**{**changed.__dict__, "lock_payment_id": "p1", "lock_until": "2026-05-04T10:20:00.000000Z"})
    catalog.put_all([locked])
    assert catalog.replace_open_invoice(Invoice(**{**changed.__dict__, "amount_cents": 1}), now) is False
    # Past its time, the lock no longer holds.
    assert catalog.replace_open_invoice(Invoice(**{**changed.__dict__, "amount_cents": 2}), "2026-05-04T10:21:00Z")
    paid = _invoice(cid, f"{cid}-2", status="paid")
    catalog.put_all([paid])
    assert catalog.replace_open_invoice(Invoice(**{**paid.__dict__, "status": "open"}), now) is False


def test_debtor_views_by_status_newest_first_and_count(table):
    cid = _cid()
    rows = [
        _invoice(cid, f"{cid}-O1", issued_on="2026-01-01"),
        _invoice(cid, f"{cid}-O2", issued_on="2026-03-01"),
        _invoice(cid, f"{cid}-P1", status="paid", issued_on="2026-02-01"),
        _invoice(cid, f"{cid}-P2", status="paid", issued_on="2026-04-01"),
        _invoice(cid, f"{cid}-P3", status="paid", issued_on="2026-05-01"),
        _invoice(cid, f"{cid}-X1", status="cancelled", issued_on="2026-06-01"),
    ]
    catalog.put_all(rows)
    assert [i.reference for i in invoices.open_of_debtor(cid, "CANTINE", "D1")] == [f"{cid}-O2", f"{cid}-O1"]
    first = invoices.paid_page(cid, "CANTINE", "D1", None, False, 2)
    assert [i.reference for _, i in first] == [f"{cid}-P3", f"{cid}-P2"]
    rest = invoices.paid_page(cid, "CANTINE", "D1", first[-1][0], False, 5)
    assert [i.reference for _, i in rest] == [f"{cid}-P1"]
    again = invoices.paid_page(cid, "CANTINE", "D1", first[-1][0], True, 5)
    assert [i.reference for _, i in again] == [f"{cid}-P2", f"{cid}-P1"]
    assert invoices.count_of_debtor(cid, "CANTINE", "D1") == 5
    catalog.put_all([InvoiceLine(cid, f"{cid}-O1", n, f"L{n}", Decimal(1), 100, 100) for n in (2, 1, 3)])
    found = invoices.with_lines(invoice_id(cid, f"{cid}-O1"))
    assert found is not None
    assert [line.line_no for line in found[1]] == [1, 2, 3]
    assert invoices.with_lines("a" * 26) is None


def test_a_claims_count_reads_at_most_1000_invoices(table, monkeypatch):
    """The count a claim answers stops at 1,000 (docs/api.md): the Query itself says so, it reads no more."""
    sent: list[dict] = []
    real = invoices.client

    class Spy:
        def query(self, **kwargs):
            sent.append(kwargs)
            return real().query(**kwargs)

    monkeypatch.setattr(invoices, "client", Spy)
    assert invoices.count_of_debtor(_cid(), "CANTINE", "D1") == 0
    assert [(q["Select"], q["Limit"]) for q in sent] == [("COUNT", 1000)]


def test_links_and_hidden_flags(table):
    cid = _cid()
    inv = _invoice(cid, f"{cid}-1")
    catalog.put_all([inv])
    account = uuid.uuid4().hex
    link = Link(account, link_id(cid, "CANTINE", "D1"), cid, "CANTINE", "D1", "Famille D1", "2026-05-04T10:00:00Z")
    assert links.create(link, inv.invoice_id) is True
    assert links.create(link, inv.invoice_id) is False
    assert links.of_account(account) == [link]
    assert links.find(account, cid, "CANTINE", "D1") == link
    # A claimed invoice that moved to another debtor no longer links.
    wrong = Link(account, link_id(cid, "CANTINE", "D9"), cid, "CANTINE", "D9", "X", "2026-05-04T10:00:00Z")
    with pytest.raises(links.InvoiceChanged):
        links.create(wrong, inv.invoice_id)
    # Nor one cancelled since it was read (a claim racing the import that cancels it).
    cancelled = _invoice(cid, f"{cid}-2", status="cancelled")
    catalog.put_all([cancelled])
    other = Link(uuid.uuid4().hex, link.link_id, cid, "CANTINE", "D1", "Famille D1", "2026-05-04T10:00:00Z")
    with pytest.raises(links.InvoiceChanged):
        links.create(other, cancelled.invoice_id)
    assert links.of_account(other.account_id) == []
    invoices.hide(account, inv.invoice_id, "2026-05-04T10:00:00Z")
    assert invoices.hidden_ids(account) == {inv.invoice_id: "2026-05-04T10:00:00Z"}
    assert invoices.context_of(account, inv) == (True, True, cid, "CANTINE", None)
    invoices.unhide(account, inv.invoice_id)
    assert invoices.hidden_ids(account) == {}
    assert links.delete(account, link.link_id) is True
    assert links.delete(account, link.link_id) is False


def test_accounts_email_uniqueness_and_tokens(table):
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    first = Account(uuid.uuid4().hex, email, "hash", "Nom", True, "2026-05-04T10:00:00Z")
    assert accounts.create(first) is True
    assert accounts.create(Account(uuid.uuid4().hex, email, "h2", "Autre", True, "2026-05-04T10:00:00Z")) is False
    assert accounts.by_email(email)[1] == first
    # A confirmed address takes no confirmation token.
    assert (
        accounts.begin_signup(email, uuid.uuid4().hex, "c" * 64, NOW + timedelta(hours=1), "2026-05-04T10:00:00Z")
        is False
    )
    assert accounts.find_token("c" * 64) is None
    assert accounts.issue_reset(email, first, "u" * 64, NOW + timedelta(hours=1)) is True
    assert accounts.reset_with_token("u" * 64, first.account_id, 0, "new", "2026-05-04T11:00:01.000000Z") is False
    assert accounts.reset_with_token("u" * 64, first.account_id, 0, "new", "2026-05-04T10:59:00.000000Z") is True
    assert accounts.reset_with_token("u" * 64, first.account_id, 0, "new", "2026-05-04T10:59:00.000000Z") is False
    reset = accounts.by_id(first.account_id)
    assert reset is not None and reset.password_hash == "new" and reset.token_generation == 1
    # A token issued under an older generation is refused.
    assert accounts.issue_reset(email, first, "v" * 64, NOW + timedelta(hours=1)) is False
    assert accounts.issue_reset(email, reset, "v" * 64, NOW + timedelta(hours=1)) is True
    accounts.set_password(first.account_id, "newer")
    assert accounts.reset_with_token("v" * 64, first.account_id, 1, "x", "2026-05-04T10:59:00.000000Z") is False
    accounts.delete(reset, "2026-05-04T12:00:00Z")
    assert accounts.by_email(email) == (None, None)
    assert accounts.owned_items(first.account_id) == []


def test_pending_sign_up_and_its_confirmation(table):
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    aid = uuid.uuid4().hex
    assert accounts.begin_signup(email, aid, "a" * 64, NOW + timedelta(hours=48), "2026-05-04T10:00:00Z") is True
    assert accounts.begin_signup(email, uuid.uuid4().hex, "b" * 64, NOW + timedelta(hours=48), "2026-05-04T10:01:00Z")
    pointer, account = accounts.by_email(email)
    # Still the first account id; only the newest token is live; nothing else exists yet.
    assert pointer is not None and pointer["account_id"] == aid and pointer["confirm_token"] == "b" * 64
    assert pointer["confirmed"] is False and account is None
    token = accounts.find_token("a" * 64)
    assert token is not None and token["email"] == email
    new = Account(aid, email, "hash", "Nom", True, "2026-05-04T10:02:00Z")
    assert accounts.confirm_signup("a" * 64, new, "2026-05-04T10:02:00.000000Z") is False  # revoked
    # The failed transaction changed nothing, not even the token it had deleted before its condition failed.
    assert accounts.find_token("a" * 64) is not None
    assert accounts.confirm_signup("b" * 64, new, "2026-05-04T10:02:00.000000Z") is True
    assert accounts.confirm_signup("b" * 64, new, "2026-05-04T10:02:00.000000Z") is False  # used
    assert accounts.by_email(email)[1] == new
    assert accounts.begin_signup(email, aid, "d" * 64, NOW + timedelta(hours=48), "2026-05-04T10:03:00Z") is False


def test_devices(table):
    account = uuid.uuid4().hex
    sessions.create_device("d" * 64, account, "subject", NOW, NOW + timedelta(days=180))
    assert sessions.find_device("d" * 64) == {
        "account_id": account,
        "email_subject": "subject",
        "created_at": "2026-05-04T10:00:00.000000Z",
        "expires_at": "2026-10-31T10:00:00.000000Z",
    }
    assert [d["token_hash"] for d in sessions.devices_of(account)] == ["d" * 64]
    assert sessions.delete_devices(account) == 1
    assert sessions.find_device("d" * 64) is None


def test_sessions_and_counters(table):
    account = uuid.uuid4().hex
    times = SessionTimes.start(NOW)
    for n in range(3):
        sessions.create(f"{n}" * 64, account, times)
    stored = session_check.find("0" * 64)
    assert stored is not None and stored.account_id == account and stored.times == times
    later = times.touched(NOW + timedelta(minutes=10))
    assert session_check.slide(stored, later, NOW + timedelta(minutes=10)) is True
    assert session_check.slide(stored, later, NOW + timedelta(minutes=10)) is False  # someone slid it already
    assert len(sessions.for_account(account)) == 3
    assert sessions.delete_all(account, keep="1" * 64) == 2
    assert [s["token_hash"] for s in sessions.for_account(account)] == ["1" * 64]
    assert counters.add("test", account, 100, 200) == 1
    assert counters.add("test", account, 100, 200) == 2
    assert counters.current([("test", account, 100), ("test", account, 0), ("test", "other", 100)]) == {
        ("test", account, 100): 2,
        ("test", account, 0): 0,
        ("test", "other", 100): 0,
    }


def test_news_newest_first(table):
    cid = _cid()
    catalog.put_all(
        [NewsItem(cid, f"N{d}", f"2026-01-{d:02d}", "Info", f"T{d}", "Corps") for d in (5, 1, 20, 12)]
        + [Collectivite(cid, "Ville")]
    )
    assert [n.published_on for n in news.latest_of(cid, 3)] == ["2026-01-20", "2026-01-12", "2026-01-05"]
    # Dated after anything else of the module's table: the newest of all collectivités, in order, capped.
    late = _cid()
    catalog.put_all([NewsItem(late, f"L{d}", f"2099-02-{d:02d}", "Info", f"T{d}", "Corps") for d in (3, 9, 6)])
    assert [(n.collectivite_id, n.published_on) for n in news.latest_of_all(2)] == [
        (late, "2099-02-09"),
        (late, "2099-02-06"),
    ]
    everyone = news.latest_of_all(20)
    assert [n.published_on for n in everyone][:3] == ["2099-02-09", "2099-02-06", "2099-02-03"]
    assert [n.published_on for n in everyone] == sorted((n.published_on for n in everyone), reverse=True)
    assert {"2026-01-20", "2026-01-12", "2026-01-05", "2026-01-01"} <= {n.published_on for n in everyone}


def test_deleting_an_account_keeps_its_payments_without_it(table):
    from espace_famille.dal import keys
    from espace_famille.dal.table import get, to_ddb

    account = Account(uuid.uuid4().hex, f"{uuid.uuid4().hex[:8]}@example.org", "h", "P", True, "2026-05-04T10:00:00Z")
    assert accounts.create(account)
    payment_key = keys.payment("pay1" + account.account_id[:8])
    payment = {
        **payment_key,
        **keys.payment_gsi1(account.account_id, "2026-05-04T10:00:00Z", "pay1"),
        "account_id": account.account_id,
        "amount_cents": 2345,
    }
    accounts.client().put_item(TableName=accounts.table(), Item=to_ddb(payment))
    assert [p["amount_cents"] for p in accounts.payments_of(account.account_id)] == [2345]
    assert accounts.detach_payments(account.account_id, "2026-05-05T00:00:00Z") == 1
    accounts.delete(account, "2026-05-05T00:00:00Z")
    kept = get(payment_key, consistent=True)
    assert kept is not None
    assert kept["amount_cents"] == 2345
    assert "account_id" not in kept and "GSI1PK" not in kept
    assert kept["account_deleted_at"] == "2026-05-05T00:00:00Z"
    assert accounts.payments_of(account.account_id) == []


def test_the_export_holds_what_the_account_owns_read_as_records(table):
    from espace_famille import accounts as domain
    from espace_famille.dal import keys
    from espace_famille.dal.table import to_ddb

    cid = _cid()
    account = Account(uuid.uuid4().hex, f"{uuid.uuid4().hex[:8]}@example.org", "h", "P", True, "2026-05-04T10:00:00Z")
    assert accounts.create(account)
    invoice = _invoice(cid, "F-1")
    catalog.put_all([invoice])
    link = Link(
        account.account_id, link_id(cid, "CANTINE", "D1"), cid, "CANTINE", "D1", "Famille D1", "2026-05-04T10:01:00Z"
    )
    assert links.create(link, invoice.invoice_id)
    invoices.hide(account.account_id, invoice.invoice_id, "2026-05-04T10:02:00Z")
    payment = {
        **keys.payment("pay" + account.account_id[:8]),
        **keys.payment_gsi1(account.account_id, "2026-05-04T10:03:00Z", "pay"),
        "account_id": account.account_id,
        "amount_cents": 2345,
        "resultrans": "P",  # an attribute no record field holds is exported too
    }
    accounts.client().put_item(TableName=accounts.table(), Item=to_ddb(payment))

    exported = domain.export(account.account_id, NOW)

    assert exported["links"] == [
        {
            "account_id": account.account_id,
            "collectivite_id": cid,
            "debtor_id": "D1",
            "debtor_name": "Famille D1",
            "link_id": link.link_id,
            "linked_at": "2026-05-04T10:01:00Z",
            "regie_id": "CANTINE",
        }
    ]
    assert list(exported["links"][0]) == sorted(exported["links"][0])
    assert exported["hidden_invoices"] == [{"invoice_id": invoice.invoice_id, "hidden_at": "2026-05-04T10:02:00Z"}]
    assert exported["payments"] == [{"account_id": account.account_id, "amount_cents": 2345, "resultrans": "P"}]
