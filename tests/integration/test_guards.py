"""The domain rules that guard a family's data, in-process on moto: claims, their throttle, links.

Fast enough for `make mutate` to run once per mutant of those modules (no gateway, no workers).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from espace_famille import claims, links, ratelimit
from espace_famille.dal import counters, keys
from espace_famille.dal import links as link_store
from espace_famille.dal.table import get
from espace_famille.errors import InvoiceNotFound, NotFound, RateLimited
from espace_famille.importer.engine import Importer
from espace_famille.model import link_id
from espace_famille.ratelimit import Limit
from tests.import_support import csv_text, invoice, opener, parents, unique_id

pytestmark = pytest.mark.integration

# 10:00:00 exactly: the start of an hour window and of a quarter-hour one.
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _import(name: str, data: str) -> None:
    report = Importer(clock=lambda: NOW).run(name, opener(data)).as_json()
    assert report["status"] == "done" and report["counts"]["rejected"] == 0, report


def _collectivite(*rows: dict[str, str]) -> str:
    cid = unique_id("G")
    _import("parents.jsonl", parents(cid))
    _import("factures.csv", csv_text([{**r, "collectivite_id": cid} for r in rows]))
    return cid


def _ids() -> tuple[str, str]:
    return uuid.uuid4().hex, f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _key(reference: str) -> str:
    return f"K{reference.replace('-', '')[-8:]}"


# -- claims ----------------------------------------------------------------------------------------------
def test_a_claim_links_the_debtor_of_that_regie_once(table):
    cid = _collectivite(
        invoice("", "A-1"),
        invoice("", "A-2", status="payée", paid_at="02/08/2017 10:00"),
        invoice("", "A-3", regie_id="GARDERIE"),
        invoice("", "A-4", debtor_id="OTHER"),
    )
    account, ip = _ids()
    first = claims.claim(account, cid, "A-1", _key("A-1"), ip, NOW)
    assert first.created is True
    assert first.invoices_found == 2
    assert first.regie.model_dump() == {
        "link_id": link_id(cid, "CANTINE", "LACROIX-J"),
        "collectivite_id": cid,
        "collectivite_name": f"Ville {cid}",
        "regie_id": "CANTINE",
        "regie_name": "Cantine",
        "debtor_name": "M LACROIX Jerome",
    }
    [stored] = link_store.of_account(account)
    assert (stored.regie_id, stored.debtor_id, stored.linked_at) == (
        "CANTINE",
        "LACROIX-J",
        "2026-03-02T10:00:00.000000Z",
    )
    # The paid invoice of the same debtor links too, to the same link: nothing duplicated.
    again = claims.claim(account, f" {cid.lower()} ", " a - 2 ", f" {_key('A-2').lower()}", ip, NOW)
    assert again.created is False and again.invoices_found == 2
    assert len(link_store.of_account(account)) == 1
    # Successes are not counted as failures.
    assert _failures(account, ip) == (0, 0)


def _failures(account: str, ip: str) -> tuple[int, int]:
    start = ratelimit.CLAIM_FAILURES_ACCOUNT.window_start(NOW)
    found = counters.current(
        [
            (ratelimit.CLAIM_FAILURES_ACCOUNT.scope, account, start),
            (ratelimit.CLAIM_FAILURES_IP.scope, ip, start),
        ]
    )
    return found[(ratelimit.CLAIM_FAILURES_ACCOUNT.scope, account, start)], found[
        (ratelimit.CLAIM_FAILURES_IP.scope, ip, start)
    ]


@pytest.mark.parametrize(
    "part",
    ["collectivite", "reference", "key", "cancelled", "bad-collectivite", "bad-reference", "bad-key"],
)
def test_every_wrong_part_is_not_found_links_nothing_and_counts_one_failure(table, part, monkeypatch):
    cid = _collectivite(invoice("", "B-1"), invoice("", "B-2", status="annulée"))
    read: list[str] = []
    real_get = claims.invoice_store.get

    def spied_get(iid: str) -> Any:
        read.append(iid)
        return real_get(iid)

    monkeypatch.setattr(claims.invoice_store, "get", spied_get)
    account, ip = _ids()
    triple = {
        "collectivite": ("NOWHERE", "B-1", _key("B-1")),
        "reference": (cid, "B-9", _key("B-1")),
        "key": (cid, "B-1", _key("B-2")),
        "cancelled": (cid, "B-2", _key("B-2")),
        "bad-collectivite": (cid + "é", "B-1", _key("B-1")),
        "bad-reference": (cid, "B-1\x00", _key("B-1")),
        "bad-key": (cid, "B-1", _key("B-1") + "é"),
    }[part]
    with pytest.raises(InvoiceNotFound):
        claims.claim(account, *triple, ip, NOW)
    assert link_store.of_account(account) == []
    assert _failures(account, ip) == (1, 1)
    # A triple that cannot be one (bad characters in any part) is refused without reading the table.
    assert len(read) == (0 if part.startswith("bad-") else 1)


def test_five_failures_per_account_block_even_the_right_triple(table):
    cid = _collectivite(invoice("", "C-1"))
    account, _ = _ids()
    for n in range(5):
        with pytest.raises(InvoiceNotFound):
            claims.claim(account, cid, f"NOPE-{n}", "K", _ids()[1], NOW)
    with pytest.raises(RateLimited) as blocked:
        claims.claim(account, cid, "C-1", _key("C-1"), _ids()[1], NOW)
    assert blocked.value.retry_after == 3600 + 720  # the next window, once 1/5 of this one slid out
    assert link_store.of_account(account) == []
    # Another account is not affected.
    assert claims.claim(_ids()[0], cid, "C-1", _key("C-1"), _ids()[1], NOW).created is True


def test_twenty_failures_per_ip_block_every_account_there(table):
    cid = _collectivite(invoice("", "D-1"))
    _, ip = _ids()
    for n in range(20):
        with pytest.raises(InvoiceNotFound):
            claims.claim(_ids()[0], cid, f"NOPE-{n}", "K", ip, NOW)
    with pytest.raises(RateLimited):
        claims.claim(_ids()[0], cid, "D-1", _key("D-1"), ip, NOW)
    assert claims.claim(_ids()[0], cid, "D-1", _key("D-1"), _ids()[1], NOW).created is True


def test_four_failures_per_account_still_allow_the_fifth_attempt(table):
    cid = _collectivite(invoice("", "E-1"))
    account, _ = _ids()
    for n in range(4):
        with pytest.raises(InvoiceNotFound):
            claims.claim(account, cid, f"NOPE-{n}", "K", _ids()[1], NOW)
    assert claims.claim(account, cid, "E-1", _key("E-1"), _ids()[1], NOW).created is True


# -- links -----------------------------------------------------------------------------------------------
def test_unlink_only_ones_own_link_with_a_well_formed_id(table, monkeypatch):
    cid = _collectivite(invoice("", "F-1"), invoice("", "F-2", regie_id="GARDERIE", debtor_id="AARON"))
    deletes: list[str] = []
    real_delete = link_store.delete

    def spied_delete(account_id: str, link_id: str) -> bool:
        deletes.append(link_id)
        return real_delete(account_id, link_id)

    monkeypatch.setattr(link_store, "delete", spied_delete)
    account, ip = _ids()
    stranger, _ = _ids()
    garderie = claims.claim(account, cid, "F-2", _key("F-2"), ip, NOW).regie
    cantine = claims.claim(account, cid, "F-1", _key("F-1"), ip, NOW).regie
    # Sorted by collectivité, régie, debtor: CANTINE before GARDERIE whatever the order of the claims.
    assert [(r.regie_id, r.regie_name, r.collectivite_name) for r in links.regies(account)] == [
        ("CANTINE", "Cantine", f"Ville {cid}"),
        ("GARDERIE", "Garderie", f"Ville {cid}"),
    ]
    assert links.regies(stranger) == []
    for bad in (cantine.link_id.upper(), "x", cantine.link_id + "a", "../" + cantine.link_id[3:]):
        with pytest.raises(NotFound):
            links.unlink(account, bad)
    assert deletes == []  # an id that cannot be one never reaches the table
    with pytest.raises(NotFound):
        links.unlink(stranger, cantine.link_id)
    links.unlink(account, cantine.link_id)
    assert links.regies(account) == [garderie]
    with pytest.raises(NotFound):
        links.unlink(account, cantine.link_id)


def test_names_of_no_link_reads_nothing(table, monkeypatch):
    looked_up: list[object] = []

    def spied_lookup(**kw: object) -> None:
        looked_up.append(kw)

    monkeypatch.setattr(links.catalog, "lookup", spied_lookup)
    assert links.describe([]) == []
    assert looked_up == []


# -- the sliding window's arithmetic ------------------------------------------------------------------
HOUR = Limit("t", 5, timedelta(hours=1))


@pytest.mark.parametrize(
    ("previous", "current", "minutes", "wait"),
    [
        (0, 0, 0, 0),
        (0, 4, 0, 0),  # room for the fifth
        (0, 5, 0, 3600 + 720),  # next window, once 1/5 of this one has slid out (12 min)
        (0, 5, 30, 1800 + 720),
        (0, 6, 0, 3600 + 1200),
        (5, 0, 0, 720),  # the previous window must slide by 1/5 (12 min)
        (5, 0, 12, 0),
        (5, 0, 11, 60),
        (5, 2, 0, 2160),  # 3 of the previous 5 must go: 36 min
        (10, 0, 30, 360),  # half of 10 still counts (5 > 4): 6 of 10 must have slid, at 36 min
        (4, 4, 0, 3600),  # the whole previous window must slide out
        (1, 5, 0, 3600 + 720),
    ],
)
def test_wait_of_the_sliding_window(previous, current, minutes, wait):
    now = NOW + timedelta(minutes=minutes)
    assert HOUR.window_start(now) == int(NOW.timestamp())
    estimate = previous * (1 - minutes / 60) + current
    assert HOUR.estimate(previous, current, now) == pytest.approx(estimate)
    assert HOUR.wait(previous, current, now) == wait
    assert (HOUR.wait(previous, current, now) == 0) == (estimate <= 4)


@pytest.mark.parametrize(
    ("previous", "current", "seconds", "wait"),
    [
        (5, 0, 719, 1),  # one second before the previous window has slid by 1/5
        (5, 0, 720, 0),
        (0, 5, 3599, 721),
        (3, 3, 1, 2399),  # 2 of the previous 3 must go: at 40 min
    ],
)
def test_wait_to_the_second(previous, current, seconds, wait):
    assert HOUR.wait(previous, current, NOW + timedelta(seconds=seconds)) == wait


def test_limits_as_documented():
    assert (ratelimit.CLAIM_FAILURES_ACCOUNT.count, ratelimit.CLAIM_FAILURES_ACCOUNT.seconds) == (5, 3600)
    assert (ratelimit.CLAIM_FAILURES_IP.count, ratelimit.CLAIM_FAILURES_IP.seconds) == (20, 3600)
    assert (ratelimit.LOGIN_FAILURES_ACCOUNT.count, ratelimit.LOGIN_FAILURES_ACCOUNT.seconds) == (5, 900)
    assert (ratelimit.LOGIN_FAILURES_IP.count, ratelimit.LOGIN_FAILURES_IP.seconds) == (20, 900)
    assert (ratelimit.ACCOUNT_CREATIONS_IP.count, ratelimit.ACCOUNT_CREATIONS_IP.seconds) == (10, 3600)
    assert (ratelimit.RESET_REQUESTS_IP.count, ratelimit.RESET_REQUESTS_IP.seconds) == (10, 3600)
    assert (ratelimit.RESET_MAILS_EMAIL.count, ratelimit.RESET_MAILS_EMAIL.seconds) == (3, 3600)
    assert (ratelimit.LOGIN_FAILURES_DEVICE.count, ratelimit.LOGIN_FAILURES_DEVICE.seconds) == (5, 900)
    assert (ratelimit.SIGNUP_MAILS_EMAIL.count, ratelimit.SIGNUP_MAILS_EMAIL.seconds) == (3, 3600)
    assert len({lim.scope for lim in vars(ratelimit).values() if isinstance(lim, Limit)}) == 9
    assert ratelimit.subject_of_email("a@b.fr") == ratelimit.subject_of_email("a@b.fr")
    assert len(ratelimit.subject_of_email("a@b.fr")) == 32
    assert ratelimit.subject_of_email("a@b.fr") != ratelimit.subject_of_email("a@b.fs")


def _count(limit: Limit, subject: str, start: int) -> int:
    return counters.current([(limit.scope, subject, start)])[(limit.scope, subject, start)]


def test_reservations_count_first_give_back_refusals_and_live_two_windows(table):
    subject = uuid.uuid4().hex
    limit = Limit(f"take-{subject[:6]}", 3, timedelta(hours=1))
    start = limit.window_start(NOW)
    for _ in range(3):
        ratelimit.take(limit, subject, NOW)
    with pytest.raises(RateLimited) as refused:
        ratelimit.take(limit, subject, NOW)
    assert refused.value.retry_after == 3600 + 1200
    assert ratelimit.try_reserve([(limit, subject)], NOW) is None
    # Refused attempts were given back: hammering does not prolong the wait.
    assert _count(limit, subject, start) == 3
    # A counter is read for two windows (this one, then as the previous one): TTL collects it after that.
    stored = get(keys.rate_counter(limit.scope, subject, start), consistent=True)
    assert stored is not None and int(stored["ttl"]) == start + 2 * 3600 + 60
    fresh = uuid.uuid4().hex
    ratelimit.reserve([(limit, fresh)], NOW)  # counted, never given back: the reservation set the TTL
    stored = get(keys.rate_counter(limit.scope, fresh, start), consistent=True)
    assert stored is not None and int(stored["ttl"]) == start + 2 * 3600 + 60
    # Several checks: the longest wait wins, each read from its own counters, and every one is given back.
    other = Limit(f"other-{subject[:6]}", 1, timedelta(minutes=15))
    ratelimit.take(other, subject, NOW)
    with pytest.raises(RateLimited) as both:
        ratelimit.reserve([(other, subject), (limit, subject)], NOW)
    assert both.value.retry_after == 3600 + 1200
    with pytest.raises(RateLimited) as short:
        ratelimit.reserve([(other, subject), (limit, "someone-else")], NOW)
    assert short.value.retry_after == 900 + 900
    assert (_count(other, subject, start), _count(limit, subject, start), _count(limit, "someone-else", start)) == (
        1,
        3,
        0,
    )
    # The next window sees the previous one's count, fading: 3 × 41/60 > 2 at 1 h 19, 3 × 40/60 = 2 at 1 h 20.
    with pytest.raises(RateLimited):
        ratelimit.take(limit, subject, NOW + timedelta(hours=1, minutes=19))
    assert _count(limit, subject, start + 3600) == 0
    kept = ratelimit.reserve([(limit, subject)], NOW + timedelta(hours=1, minutes=20))
    assert _count(limit, subject, start + 3600) == 1
    # A success gives its attempt back, once.
    kept.release()
    kept.release()
    assert _count(limit, subject, start + 3600) == 0
    # Lifting forgets this window and the previous one.
    ratelimit.take(limit, subject, NOW + timedelta(hours=1, minutes=20))
    ratelimit.lift(limit, subject, NOW + timedelta(hours=1, minutes=20))
    assert (_count(limit, subject, start), _count(limit, subject, start + 3600)) == (0, 0)
