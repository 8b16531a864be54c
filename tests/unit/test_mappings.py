"""Each record's one mapping: the item it writes (names pinned: deployed tables hold them) reads back the record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from espace_famille.dal import catalog
from espace_famille.dal.accounts import ACCOUNT
from espace_famille.dal.links import LINK
from espace_famille.dal.mapping import RecordMapping, attributes
from espace_famille.dal.payments import PAYMENT, PaidInvoice, Payment
from espace_famille.dal.table import from_ddb, to_ddb
from espace_famille.model import (
    MAX_AMOUNT_CENTS,
    Account,
    Collectivite,
    Debtor,
    Invoice,
    InvoiceLine,
    Link,
    NewsItem,
    Regie,
    invoice_id,
)

text = st.text(max_size=12)
ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=10)
cents = st.integers(min_value=0, max_value=MAX_AMOUNT_CENTS)
stamps = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
days = st.dates().map(lambda d: d.isoformat())
maybe = st.none() | text

RECORDS: dict[str, tuple[RecordMapping[Any], st.SearchStrategy[Any]]] = {
    "collectivite": (catalog.COLLECTIVITE, st.builds(Collectivite, ids, text)),
    "regie": (
        catalog.REGIE,
        st.builds(Regie, ids, ids, text, text, st.dictionaries(st.sampled_from(["numcli", "saisie"]), text)),
    ),
    "debtor": (catalog.DEBTOR, st.builds(Debtor, ids, ids, ids, text)),
    "invoice": (
        catalog.INVOICE,
        st.builds(
            Invoice,
            collectivite_id=ids,
            regie_id=ids,
            reference=ids,
            key_digest=text,
            debtor_id=ids,
            debtor_name=text,
            issued_on=days,
            due_on=days,
            amount_cents=cents,
            status=st.sampled_from(["open", "paid", "cancelled"]),
            paid_at=st.none() | stamps,
            paid_by=maybe,
            lock_payment_id=maybe,
            lock_until=st.none() | stamps,
        ),
    ),
    "invoice_line": (
        catalog.INVOICE_LINE,
        st.builds(
            InvoiceLine,
            ids,
            ids,
            st.integers(min_value=1, max_value=9999),
            text,
            st.decimals(min_value=0, max_value=1000, places=2),
            cents,
            cents,
        ),
    ),
    "news": (catalog.NEWS, st.builds(NewsItem, ids, ids, days, text, text, text)),
    "account": (ACCOUNT, st.builds(Account, ids, text, text, text, st.booleans(), stamps, st.integers(0, 10**6))),
    "link": (LINK, st.builds(Link, ids, ids, ids, ids, ids, text, stamps, maybe, maybe)),
    "payment": (
        PAYMENT,
        st.builds(
            Payment,
            payment_id=ids,
            reference=ids,
            account_id=st.none() | ids,
            collectivite_id=ids,
            regie_id=ids,
            regie_name=st.text(min_size=1, max_size=12),  # an empty name reads as the id
            backend=st.sampled_from(["payfip", "none"]),
            numcli=text,
            invoices=st.lists(st.builds(PaidInvoice, ids, ids, cents), max_size=3).map(tuple),
            amount_cents=cents,
            email=text,
            status=st.sampled_from(["pending", "paid", "refused", "cancelled", "expired", "error", "anomaly"]),
            created_at=stamps,
            updated_at=stamps,
            lock_until=stamps,
            provider_ref=maybe,
            checked_at=st.none() | stamps,
            paid_at=st.none() | stamps,
            transaction_number=maybe,
            anomaly=maybe,
            history=st.lists(st.dictionaries(st.sampled_from(["at", "status", "detail"]), text), max_size=3).map(tuple),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_a_record_reads_back_from_its_item_as_the_table_returns_it(name: str) -> None:
    mapping, records = RECORDS[name]

    @given(records)
    def round_trip(record: Any) -> None:
        item = mapping.to_item(record)
        assert mapping.from_item(item) == record
        assert mapping.from_item(from_ddb(to_ddb(item))) == record  # the types DynamoDB gives back
        assert None not in item.values()  # an absent value is an absent attribute

    round_trip()


CATALOG = ("collectivite", "regie", "debtor", "invoice", "invoice_line", "news")


@given(st.one_of(*(RECORDS[name][1] for name in CATALOG)))
def test_a_catalog_item_reads_back_as_its_own_kind_of_record(record: Any) -> None:
    assert catalog.from_item(from_ddb(to_ddb(catalog.to_item(record)))) == record


def test_an_item_of_no_known_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="régie data"):
        catalog.from_item({"PK": "X", "SK": "Y", "kind": "payment"})


# The items as they are stored today: a renamed field or key must fail here, or deployed items stop reading.
INVOICE = Invoice("J", "CANTINE", "F-1", "d1g", "D1", "Famille Martin", "2026-01-05", "2026-02-05", 4250, "open")
INVOICE_ID = invoice_id("J", "F-1")
STORED: list[tuple[RecordMapping[Any], Any, dict[str, Any]]] = [
    (
        catalog.COLLECTIVITE,
        Collectivite("J", "Jolieville"),
        {"PK": "COLL#J", "SK": "COLL", "kind": "collectivite", "collectivite_id": "J", "name": "Jolieville"},
    ),
    (
        catalog.REGIE,
        Regie("J", "CANTINE", "Cantine", "payfip", {"numcli": "123456", "saisie": "T"}),
        {
            "PK": "COLL#J",
            "SK": "REGIE#CANTINE",
            "kind": "regie",
            "collectivite_id": "J",
            "regie_id": "CANTINE",
            "name": "Cantine",
            "payment_backend": "payfip",
            "payment_options": {"numcli": "123456", "saisie": "T"},
        },
    ),
    (
        catalog.DEBTOR,
        Debtor("J", "CANTINE", "D1", "Famille Martin"),
        {
            "PK": "DEBTOR#J#CANTINE#D1",
            "SK": "DEBTOR",
            "kind": "debtor",
            "collectivite_id": "J",
            "regie_id": "CANTINE",
            "debtor_id": "D1",
            "name": "Famille Martin",
        },
    ),
    (
        catalog.INVOICE,
        INVOICE,
        {
            "PK": f"INV#{INVOICE_ID}",
            "SK": "INV",
            "GSI1PK": "DEBTOR#J#CANTINE#D1",
            "GSI1SK": "O#2026-01-05#F-1",
            "kind": "invoice",
            "invoice_id": INVOICE_ID,
            "collectivite_id": "J",
            "regie_id": "CANTINE",
            "reference": "F-1",
            "key_digest": "d1g",
            "debtor_id": "D1",
            "debtor_name": "Famille Martin",
            "issued_on": "2026-01-05",
            "due_on": "2026-02-05",
            "amount_cents": 4250,
            "status": "open",
        },
    ),
    (
        catalog.INVOICE_LINE,
        InvoiceLine("J", "F-1", 2, "Repas", Decimal("8.5"), 500, 4250),
        {
            "PK": f"INV#{INVOICE_ID}",
            "SK": "LINE#0002",
            "kind": "invoice_line",
            "invoice_id": INVOICE_ID,
            "collectivite_id": "J",
            "reference": "F-1",
            "line_no": 2,
            "label": "Repas",
            "quantity": Decimal("8.5"),
            "unit_price_cents": 500,
            "amount_cents": 4250,
        },
    ),
    (
        catalog.NEWS,
        NewsItem("J", "n1", "2026-01-02", "info", "Titre", "Texte"),
        {
            "PK": "NEWS#J",
            "SK": "NEWS#2026-01-02#n1",
            "GSI1PK": "NEWS",
            "GSI1SK": "2026-01-02#J#n1",
            "kind": "news",
            "collectivite_id": "J",
            "news_id": "n1",
            "published_on": "2026-01-02",
            "category": "info",
            "title": "Titre",
            "body": "Texte",
        },
    ),
    (
        ACCOUNT,
        Account("a1", "sophie@example.org", "$argon2id$h", "Sophie", True, "2026-01-01T00:00:00.000000Z", 2),
        {
            "PK": "ACCT#a1",
            "SK": "ACCT",
            "account_id": "a1",
            "email": "sophie@example.org",
            "password_hash": "$argon2id$h",
            "display_name": "Sophie",
            "confirmed": True,
            "created_at": "2026-01-01T00:00:00.000000Z",
            "token_generation": 2,
        },
    ),
    (
        LINK,
        Link("a1", "l1", "J", "CANTINE", "D1", "Famille Martin", "2026-01-03T00:00:00.000000Z", "Jolieville"),
        {
            "PK": "ACCT#a1",
            "SK": "LINK#l1",
            "GSI1PK": "DEBTOR#J#CANTINE#D1",
            "GSI1SK": "LINK#a1",
            "account_id": "a1",
            "link_id": "l1",
            "collectivite_id": "J",
            "regie_id": "CANTINE",
            "debtor_id": "D1",
            "debtor_name": "Famille Martin",
            "linked_at": "2026-01-03T00:00:00.000000Z",
            "collectivite_name": "Jolieville",
        },
    ),
    (
        PAYMENT,
        Payment(
            "p1",
            "REF1",
            "a1",
            "J",
            "CANTINE",
            "Cantine",
            "payfip",
            "123456",
            (PaidInvoice(INVOICE_ID, "F-1", 4250),),
            4250,
            "sophie@example.org",
            "pending",
            "2026-01-04T00:00:00.000000Z",
            "2026-01-04T00:00:01.000000Z",
            "2026-01-04T00:20:00.000000Z",
            history=({"at": "2026-01-04T00:00:00.000000Z", "status": "pending", "detail": "créé"},),
        ),
        {
            "PK": "PAY#p1",
            "SK": "PAY",
            "GSI1PK": "ACCT#a1",
            "GSI1SK": "PAY#2026-01-04T00:00:00.000000Z#p1",
            "GSI2PK": "PAYSTATE#pending",
            "GSI2SK": "2026-01-04T00:00:00.000000Z#p1",
            "kind": "payment",
            "payment_id": "p1",
            "reference": "REF1",
            "account_id": "a1",
            "collectivite_id": "J",
            "regie_id": "CANTINE",
            "regie_name": "Cantine",
            "backend": "payfip",
            "numcli": "123456",
            "invoices": [{"invoice_id": INVOICE_ID, "reference": "F-1", "amount_cents": 4250}],
            "amount_cents": 4250,
            "email": "sophie@example.org",
            "status": "pending",
            "created_at": "2026-01-04T00:00:00.000000Z",
            "updated_at": "2026-01-04T00:00:01.000000Z",
            "lock_until": "2026-01-04T00:20:00.000000Z",
            "history": [{"at": "2026-01-04T00:00:00.000000Z", "status": "pending", "detail": "créé"}],
        },
    ),
]


@pytest.mark.parametrize(("mapping", "record", "item"), STORED, ids=[m.record.__name__ for m, _, _ in STORED])
def test_the_stored_names_do_not_change(mapping: RecordMapping[Any], record: Any, item: dict[str, Any]) -> None:
    assert mapping.to_item(record) == item
    assert mapping.from_item(item) == record
    assert mapping.attributes(record) == attributes(item)


def test_older_items_read_with_what_their_attributes_meant() -> None:
    """Items written before an attribute existed, as a deployed table holds them."""
    account = {k: v for k, v in STORED[6][2].items() if k not in ("confirmed", "token_generation")}
    assert ACCOUNT.from_item(account) == Account(
        "a1", "sophie@example.org", "$argon2id$h", "Sophie", False, "2026-01-01T00:00:00.000000Z", 0
    )
    link = {k: v for k, v in STORED[7][2].items() if k != "collectivite_name"}
    assert LINK.from_item(link).collectivite_name is None
    regie = {k: v for k, v in STORED[1][2].items() if k != "payment_options"}
    assert catalog.REGIE.from_item(regie).payment_options == {}
    payment = {
        k: v
        for k, v in STORED[8][2].items()
        if k not in ("account_id", "regie_name", "updated_at", "numcli", "lock_until", "invoices", "history")
    }
    old = PAYMENT.from_item(payment)
    assert (old.account_id, old.regie_name, old.updated_at, old.numcli, old.lock_until) == (
        None,
        "CANTINE",
        "2026-01-04T00:00:00.000000Z",
        "",
        "",
    )
    assert (old.invoices, old.history) == ((), ())


def test_an_item_missing_a_required_attribute_is_not_read() -> None:
    item = {k: v for k, v in STORED[3][2].items() if k != "amount_cents"}
    with pytest.raises(KeyError, match="amount_cents"):
        catalog.INVOICE.from_item(item)


def test_a_deleted_accounts_payment_leaves_its_account_index() -> None:
    record = STORED[8][1]
    detached = PAYMENT.to_item(Payment(**{**record.__dict__, "account_id": None, "status": "paid"}))
    assert not {"GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "account_id"} & set(detached)
