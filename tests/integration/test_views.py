"""The parent's invoice views, detail and hiding, in-process on moto: what an account may see, and only that.

The gateway's own tests (test_invoices.py) cover the same through HTTP; these are fast enough for `make mutate`.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from espace_famille import claims, invoices, links
from espace_famille.dal import keys
from espace_famille.dal.table import client, to_ddb
from espace_famille.errors import NotFound, ValidationFailed
from espace_famille.importer.engine import Importer
from espace_famille.model import NotPayableReason, View, invoice_id
from tests.import_support import LINE_COLUMNS, csv_text, invoice, opener, parents, unique_id

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _import(name: str, data: str) -> None:
    report = Importer(clock=lambda: NOW).run(name, opener(data)).as_json()
    assert report["status"] == "done" and report["counts"]["rejected"] == 0, report


def _family(*rows: dict[str, Any]) -> tuple[str, str]:
    """A collectivité with these invoices, and an account linked to the debtor of the first one's régie."""
    cid = unique_id("W")
    _import("parents.jsonl", parents(cid))
    _import("factures.csv", csv_text([{**r, "collectivite_id": cid} for r in rows]))
    account = uuid.uuid4().hex
    _claim(account, cid, rows[0]["reference"])
    return cid, account


def _claim(account: str, cid: str, reference: str) -> dict[str, Any]:
    key = f"K{reference.replace('-', '')[-8:]}"
    return claims.claim(account, cid, reference, key, f"10.9.{uuid.uuid4().int % 250}.1", NOW).regie.model_dump()


def _iid(cid: str, reference: str) -> str:
    return invoice_id(cid, reference)


def _refs(view: dict[str, Any]) -> list[str]:
    return [i["reference"] for i in view["invoices"]]


def _list(account: str, view: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """The view as the API sends it."""
    return invoices.list_invoices(account, View(view), limit, cursor, NOW).model_dump(mode="json")


def test_current_view_newest_first_hidden_and_cancelled_out_locked_not_payable(table):
    cid, account = _family(
        invoice("", "V-1", issued_on="01/01/2026", amount="10,00"),
        invoice("", "V-2", issued_on="01/02/2026", amount="20,00"),
        invoice("", "V-3", issued_on="01/03/2026", amount="30,00"),
        invoice("", "V-4", issued_on="01/04/2026", amount="40,00", status="annulée"),
        invoice("", "V-5", issued_on="01/05/2026", amount="50,00", status="payée", paid_at="02/05/2026 10:00"),
        invoice("", "V-6", issued_on="01/06/2026", amount="60,00", debtor_id="OTHER"),
        invoice("", "V-7", issued_on="01/07/2026", amount="70,00", regie_id="GARDERIE"),
    )
    locked = _iid(cid, "V-3")
    client().update_item(
        TableName=table,
        Key=to_ddb(keys.invoice(locked)),
        UpdateExpression="SET lock_payment_id = :p, lock_until = :u",
        ExpressionAttributeValues={":p": {"S": "pay-1"}, ":u": {"S": "2026-03-02T10:00:00.000001Z"}},
    )
    view = _list(account, "current")
    assert _refs(view) == ["V-3", "V-2", "V-1"]
    assert [i["payable"] for i in view["invoices"]] == [False, True, True]
    assert view["total_due_cents"] == 3000
    assert view["next_cursor"] is None
    first = view["invoices"][0]
    assert (first["collectivite_name"], first["regie_name"], first["hidden"]) == (f"Ville {cid}", "Cantine", False)
    # A lock that has run out no longer holds (compared with now, to the microsecond).
    client().update_item(
        TableName=table,
        Key=to_ddb(keys.invoice(locked)),
        UpdateExpression="SET lock_until = :u",
        ExpressionAttributeValues={":u": {"S": "2026-03-02T10:00:00.000000Z"}},
    )
    assert _list(account, "current")["total_due_cents"] == 6000
    invoices.set_hidden(account, _iid(cid, "V-2"), True, NOW)
    view = _list(account, "current")
    assert _refs(view) == ["V-3", "V-1"] and view["total_due_cents"] == 4000
    # The garderie needs its own claim; then both régies show.
    _claim(account, cid, "V-7")
    assert _refs(_list(account, "current")) == ["V-7", "V-3", "V-1"]


def test_hidden_view_shows_only_linked_not_cancelled_hidden_invoices(table):
    cid, account = _family(
        invoice("", "H-1", issued_on="01/01/2026"),
        invoice("", "H-2", issued_on="01/02/2026", status="payée", paid_at="02/02/2026 10:00"),
        invoice("", "H-3", issued_on="01/03/2026", regie_id="GARDERIE"),
    )
    garderie = _claim(account, cid, "H-3")
    assert _list(account, "hidden")["invoices"] == []
    for ref in ("H-1", "H-2", "H-3"):
        invoices.set_hidden(account, _iid(cid, ref), True, NOW)
    view = _list(account, "hidden")
    assert _refs(view) == ["H-3", "H-2", "H-1"]
    assert all(i["hidden"] for i in view["invoices"])
    assert view["total_due_cents"] == 0 and view["next_cursor"] is None
    assert _refs(_list(account, "paid")) == []
    # After an unlink, that régie's hidden invoices leave the hidden view (the flags stay, unseen).
    links.unlink(account, garderie["link_id"])
    assert _refs(_list(account, "hidden")) == ["H-2", "H-1"]
    # A hidden invoice cancelled later leaves it too.
    _import("factures.csv", csv_text([invoice(cid, "H-1", issued_on="01/01/2026", status="annulée")]))
    assert _refs(_list(account, "hidden")) == ["H-2"]
    invoices.set_hidden(account, _iid(cid, "H-2"), False, NOW)
    assert _refs(_list(account, "hidden")) == []
    assert _refs(_list(account, "paid")) == ["H-2"]


def _paid(ref: str, day: int, **kw: Any) -> dict[str, Any]:
    return invoice("", ref, issued_on=f"{day:02d}/01/2026", status="payée", paid_at=f"{day:02d}/02/2026 10:00", **kw)


def test_paid_view_pages_across_links_with_hidden_ones_skipped(table):
    rows = [_paid(f"P-{d}", d) for d in range(1, 6)] + [_paid(f"Q-{d}", d, regie_id="GARDERIE") for d in (2, 4, 6)]
    cid, account = _family(*rows)
    _claim(account, cid, "Q-2")
    # The two newest of the cantine hidden: pages must still be full.
    for ref in ("P-5", "P-4"):
        invoices.set_hidden(account, _iid(cid, ref), True, NOW)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = _list(account, "paid", 2, cursor)
        assert page["total_due_cents"] == 0
        seen += _refs(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert 1 <= len(page["invoices"]) <= 2
    assert seen == ["Q-6", "Q-4", "P-3", "Q-2", "P-2", "P-1"]
    assert _refs(_list(account, "paid", 6))[:4] == seen[:4]
    # One link, limit 2, its two newest hidden: still two on the first page.
    only = unique_id("W")
    _import("parents.jsonl", parents(only))
    _import("factures.csv", csv_text([{**r, "collectivite_id": only} for r in rows[:4]]))
    single = uuid.uuid4().hex
    _claim(single, only, "P-1")
    for ref in ("P-4", "P-3"):
        invoices.set_hidden(single, _iid(only, ref), True, NOW)
    got: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        page = _list(single, "paid", 2, cursor)
        got += page["invoices"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["reference"] for i in got] == ["P-2", "P-1"]
    page = {"invoices": got}
    assert (
        page["invoices"][0]["payment_id"] is None and page["invoices"][0]["paid_at"] == "2026-02-02T09:00:00.000000Z"
    )  # Paris time, stored in UTC


def test_a_paid_page_stops_where_a_link_may_still_hold_newer_invoices(table):
    """Limit 3 over two links: each reads 2. The cantine's 10 and 9 come first; the garderie's 7 is next among
    what was read, but the cantine may hold more above it (its 8, unread): the page ends at its 9."""
    rows = [_paid(f"A-{d}", d) for d in (10, 9, 8)] + [_paid(f"B-{d}", d, regie_id="GARDERIE") for d in (7, 6)]
    cid, account = _family(*rows)
    _claim(account, cid, "B-7")
    first = _list(account, "paid", 3)
    assert _refs(first) == ["A-10", "A-9"] and first["next_cursor"]
    seen, cursor = _refs(first), first["next_cursor"]
    for _ in range(5):
        page = _list(account, "paid", 3, cursor)
        seen += _refs(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["A-10", "A-9", "A-8", "B-7", "B-6"]


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_cursor_is_this_accounts_own_or_refused(table):
    _, account = _family(*[_paid(f"C-{d}", d) for d in range(1, 4)])
    cursor = _list(account, "paid", 1)["next_cursor"]
    assert cursor
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    second = _list(account, "paid", 1, cursor)
    assert _refs(second) == ["C-2"]
    # The last page says that nothing follows (no cursor to an empty page).
    last = _list(account, "paid", 1, second["next_cursor"])
    assert _refs(last) == ["C-1"] and last["next_cursor"] is None
    other = uuid.uuid4().hex
    for bad in (
        _cursor({**decoded, "sk": "O#2026-01-01#X"}),
        _cursor({**decoded, "sk": 1}),
        _cursor({**decoded, "link": "a" * 26}),
        _cursor({**decoded, "link": 1}),
        _cursor({**decoded, "extra": 1}),
        _cursor({"sk": decoded["sk"]}),
        _cursor([1, 2]),
        "%%%",
        cursor[:-3],
        cursor + "A" * (513 - len(cursor)),
    ):
        with pytest.raises(ValidationFailed):
            _list(account, "paid", 1, bad)
    with pytest.raises(ValidationFailed):
        _list(other, "paid", 1, cursor)
    # 512 characters is the most a cursor may have: JSON whitespace pads a good one to exactly that.
    raw = json.dumps(decoded, separators=(",", ":"))
    raw = raw[:-1] + " " * (384 - len(raw)) + "}"
    padded = base64.urlsafe_b64encode(raw.encode()).decode()
    assert len(padded) == 512
    assert _refs(_list(account, "paid", 1, padded)) == ["C-2"]


def test_detail_and_hiding_only_for_a_linked_not_cancelled_invoice(table):
    cid, account = _family(
        invoice("", "D-1"),
        invoice("", "D-2", status="annulée"),
        invoice("", "D-3", debtor_id="OTHER"),
    )
    _import(
        "lignes.csv",
        csv_text(
            [{"collectivite_id": cid, "reference": "D-1", "line_no": 1, "label": "Repas", "quantity": 7,
              "unit_price": "3,35", "amount": "23,45"}],
            LINE_COLUMNS,
        ),
    )  # fmt: skip
    one = invoices.detail(account, _iid(cid, "D-1"), NOW).model_dump(mode="json")
    assert one["reference"] == "D-1" and one["hidden"] is False and one["payable"] is True
    assert one["lines"] == [{"label": "Repas", "quantity": 7, "unit_price_cents": 335, "amount_cents": 2345}]
    invoices.set_hidden(account, _iid(cid, "D-1"), True, NOW)
    assert invoices.detail(account, _iid(cid, "D-1"), NOW).hidden is True
    stranger = uuid.uuid4().hex
    for who, ref in ((account, "D-2"), (account, "D-3"), (stranger, "D-1")):
        with pytest.raises(NotFound):
            invoices.detail(who, _iid(cid, ref), NOW)
        for hidden in (True, False):
            with pytest.raises(NotFound):
                invoices.set_hidden(who, _iid(cid, ref), hidden, NOW)
    for bad in ("x", _iid(cid, "D-1").upper(), _iid(cid, "NONE")):
        with pytest.raises(NotFound):
            invoices.detail(account, bad, NOW)
        with pytest.raises(NotFound):
            invoices.set_hidden(account, bad, True, NOW)
    assert _refs(_list(stranger, "hidden")) == []


def test_page_size_as_documented():
    """50 a page unless asked, at most 200 (the handler's query model reads these; the gateway tests send them)."""
    assert (invoices.DEFAULT_LIMIT, invoices.MAX_LIMIT) == (50, 200)


def test_paid_pages_keep_ties_across_collectivites_and_read_a_bounded_page(table, monkeypatch):
    """The same reference on the same day in two collectivités: the same sort key, ordered by link id."""
    account = uuid.uuid4().hex
    for _ in range(2):
        cid = unique_id("W")
        _import("parents.jsonl", parents(cid))
        _import("factures.csv", csv_text([{**_paid("T-1", 5), "collectivite_id": cid}]))
        _claim(account, cid, "T-1")
    limits: list[int] = []
    real_page = invoices.store.paid_page

    def spied_page(*args: Any) -> Any:
        limits.append(args[-1])
        return real_page(*args)

    monkeypatch.setattr(invoices.store, "paid_page", spied_page)
    pages, cursor = [], None
    for _ in range(5):
        page = _list(account, "paid", 1, cursor)
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    shown = [i for p in pages for i in p["invoices"]]
    assert [i["reference"] for i in shown] == ["T-1", "T-1"]
    assert shown[0]["id"] != shown[1]["id"]
    assert not any(i["hidden"] for i in shown)
    # Each Query is bounded (never the whole history of a régie): a link reads its share of the page and the
    # item after it, ceil((limit + 1) / links) items, here 1.
    assert limits and set(limits) == {1}, limits


def test_cursors_of_every_length_are_read(table):
    """Cursors go without base64's padding: each length is padded back correctly."""
    _, account = _family(*[_paid(f"L-{d}", d) for d in range(1, 4)])
    cursor = _list(account, "paid", 1)["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    compact = json.dumps(decoded, separators=(",", ":"))
    lengths = set()
    for spaces in range(15):
        raw = compact[:-1] + " " * spaces + "}"
        padded = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        lengths.add(len(padded) % 4)
        assert _refs(_list(account, "paid", 1, padded)) == ["L-2"], spaces
    assert lengths == {0, 2, 3}


def _dynamodb_calls(reset: bool = False) -> dict[str, int]:
    """The DynamoDB calls the local AWS server counted since the last reset (then reset, if asked)."""
    url = os.environ["AWS_ENDPOINT_URL"] + "/__local__/dynamodb-calls"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local AWS server
        result: dict[str, int] = json.loads(response.read())
    if reset:
        request = urllib.request.Request(url, method="DELETE")  # noqa: S310 - the local AWS server
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - the local AWS server
    return result


def test_a_listing_reads_the_regies_once_a_minute_and_shows_their_changes_after_it(table, monkeypatch):
    cid, account = _family(invoice("", "M-1", issued_on="01/01/2026", amount="10,00"))
    clock = [1000.0]
    monkeypatch.setattr(links.time, "monotonic", lambda: clock[0])
    links.forget_catalog()
    _dynamodb_calls(reset=True)
    first = _list(account, "current")["invoices"][0]
    assert (first["payable"], first["regie_name"]) == (True, "Cantine")
    assert _dynamodb_calls(reset=True) == {"Query": 2, "BatchGetItem": 1}  # links + hidden, the régie, its names
    # The régie stops taking payments online and is renamed: within the minute a listing shows it as it was,
    # without reading it, and its invoices are read afresh.
    client().update_item(
        TableName=table,
        Key=to_ddb(keys.regie(cid, "CANTINE")),
        UpdateExpression="SET payment_backend = :b, #n = :n",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":b": {"S": "none"}, ":n": {"S": "Restauration scolaire"}},
    )
    _dynamodb_calls(reset=True)
    clock[0] += links.CATALOG_TTL_SECONDS - 1
    same = _list(account, "current")
    assert [(i["payable"], i["regie_name"]) for i in same["invoices"]] == [(True, "Cantine")]
    assert _dynamodb_calls(reset=True) == {"Query": 2}
    # A minute after it was read, the next listing reads it again and shows the change.
    clock[0] += 1
    later = _list(account, "current")
    assert [(i["payable"], i["not_payable_reason"], i["regie_name"]) for i in later["invoices"]] == [
        (False, NotPayableReason.REGIE_NOT_PAYABLE_ONLINE, "Restauration scolaire")
    ]
    assert later["total_due_cents"] == 0
    assert _dynamodb_calls(reset=True) == {"Query": 2, "BatchGetItem": 1}


def test_an_account_without_links_sees_empty_views_and_reads_only_its_own_partition(table):
    """Its hidden flags outlive an unlink, unseen: no view reads their invoices, and nothing is due."""
    cid, account = _family(invoice("", "N-1", issued_on="01/01/2026", status="payée", paid_at="02/01/2026 10:00"))
    invoices.set_hidden(account, _iid(cid, "N-1"), True, NOW)
    [link] = links.regies(account)
    links.unlink(account, link.link_id)
    empty = {"invoices": [], "total_due_cents": 0, "next_cursor": None}
    for view in ("current", "hidden", "paid"):
        _dynamodb_calls(reset=True)
        assert _list(account, view) == empty, view
        assert _dynamodb_calls(reset=True) == {"Query": 1}, view  # its links and hidden flags: none linked
