"""Property: over generated files of good and bad invoice rows, every row is imported or reported, on moto.

Each generated row is either good (it must be stored, exactly as written) or bad in one known way (it must
be reported at its line, and not stored); the counts must add up; and a second run of the same file
must change nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from espace_famille import text
from espace_famille.dal import keys
from espace_famille.dal import table as table_module
from espace_famille.importer.engine import Importer
from espace_famille.model import invoice_id
from tests.import_support import INVOICE_COLUMNS, csv_text, jsonl_text, opener, parents, unique_id

pytestmark = pytest.mark.integration

_examples = itertools.count()

# Letters French names hold, all of them in Windows-1252 too; plus the CSV separator and quote.
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèêëàâîïôöùûüçÉÈÀÇœŒ' -;\"€"

names = st.text(NAME_CHARS, min_size=1, max_size=30).filter(lambda s: s.strip() != "")
cents = st.integers(min_value=1, max_value=100_000_00)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))

BAD_KINDS = (
    "negative",
    "zero",
    "too_big",
    "three_decimals",
    "unreadable_amount",
    "impossible_date",
    "due_before_issue",
    "unknown_regie",
    "unknown_collectivite",
    "missing_key",
    "paid_without_date",
    "broken_line",
)


@dataclass
class Row:
    fields: dict[str, Any]
    bad: str | None  # None: a good row
    blank_before: bool


def _euros(value: int, french: bool) -> str:
    text = f"{Decimal(value) / 100:.2f}"
    return text.replace(".", ",") if french else text


@st.composite
def rows(draw: Any, cid: str, prefix: str) -> Row:
    reference = f"{prefix}-{draw(st.integers(0, 12))}"  # few numbers: duplicates happen
    issued = draw(days)
    due = draw(st.dates(min_value=issued, max_value=issued + timedelta(days=400)))
    french = draw(st.booleans())
    status = draw(st.sampled_from(["open", "payée", "paid", "annulée", "à payer"]))
    fields: dict[str, Any] = {
        "collectivite_id": draw(st.sampled_from([cid, cid.lower(), f" {cid} "])),
        "regie_id": draw(st.sampled_from(["CANTINE", "garderie"])),
        "reference": draw(st.sampled_from([reference, reference.lower(), f" {reference} "])),
        "key": draw(st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12)),
        "debtor_id": draw(st.sampled_from(["LACROIX-J", "MARTIN-S", "D.42"])),
        "debtor_name": draw(names),
        "issued_on": issued.strftime("%d/%m/%Y") if french else issued.isoformat(),
        "due_on": due.strftime("%d/%m/%Y") if french else due.isoformat(),
        "amount": _euros(draw(cents), french),
        "status": status,
        "paid_at": draw(st.sampled_from(["11/07/2017 16:28:09", "2017-07-11T14:28:09Z"]))
        if status in ("payée", "paid")
        else "",
    }
    if draw(st.booleans()):
        # Control characters in a name are stripped, not refused: the row stays good.
        fields["debtor_name"] = "\x1b" + fields["debtor_name"] + "\x07"
    bad = draw(st.one_of(st.none(), st.sampled_from(BAD_KINDS)))
    if bad == "negative":
        fields["amount"] = "-" + fields["amount"]
    elif bad == "zero":
        fields["amount"] = draw(st.sampled_from(["0", "0,00", "0.00"]))
    elif bad == "too_big":
        fields["amount"] = _euros(draw(st.integers(100_000_01, 10**12)), french)
    elif bad == "three_decimals":
        fields["amount"] = fields["amount"] + draw(st.sampled_from("123456789"))
    elif bad == "unreadable_amount":
        fields["amount"] = draw(st.sampled_from(["douze", "12 euros", "1.234,56", "", "1e3"]))
    elif bad == "impossible_date":
        fields[draw(st.sampled_from(["issued_on", "due_on"]))] = draw(
            st.sampled_from(["31/02/2017", "2017-02-30", "00/01/2017", "2017-13-01", "1/1/1999"])
        )
    elif bad == "due_before_issue":
        fields["issued_on"], fields["due_on"] = "02/08/2017", "01/08/2017"
    elif bad == "unknown_regie":
        fields["regie_id"] = "PISCINE"
    elif bad == "unknown_collectivite":
        fields["collectivite_id"] = cid + "X"
    elif bad == "missing_key":
        fields["key"] = " "
    elif bad == "paid_without_date":
        fields["status"], fields["paid_at"] = "paid", ""
    return Row(fields, bad, draw(st.booleans()))


@st.composite
def files(draw: Any, cid: str) -> tuple[str, bytes, list[Row]]:
    prefix = f"P{next(_examples)}"
    generated = draw(st.lists(rows(cid, prefix), min_size=0, max_size=25))
    fmt = draw(st.sampled_from(["csv", "jsonl"]))
    if fmt == "csv":
        encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
        lines = csv_text([], INVOICE_COLUMNS).splitlines()
        for row in generated:
            if row.blank_before:
                lines.append("")
            if row.bad == "broken_line":
                lines.append(";".join(str(v) for v in list(row.fields.values())[:5]))  # cut short
            else:
                lines.append(csv_text([row.fields], INVOICE_COLUMNS).splitlines()[1])
        return "factures.csv", ("\r\n".join(lines) + "\r\n").encode(encoding), generated
    out = []
    for row in generated:
        if row.blank_before:
            out.append("\n")
        if row.bad == "broken_line":
            out.append(jsonl_text({"kind": "invoice", **row.fields})[:-12] + "\n")
        else:
            out.append(jsonl_text({"kind": "invoice", **row.fields}))
    return "factures.jsonl", "".join(out).encode("utf-8"), generated


def expected(rows_: list[Row], fmt: str) -> tuple[dict[int, Row], dict[int, Row]]:
    """(line -> row) of the rows to be imported, and of those to be reported."""
    line = 1 if fmt == "csv" else 0
    seen: set[str] = set()
    good: dict[int, Row] = {}
    bad: dict[int, Row] = {}
    for row in rows_:
        line += 1 + row.blank_before
        ref = row.fields["reference"].strip().upper()
        if row.bad is None and ref not in seen:
            good[line] = row
            seen.add(ref)  # only an imported row claims its reference (a rejected one blocks nothing)
        else:
            bad[line] = row
    return good, bad


@pytest.fixture(scope="module")
def collectivite(table) -> str:
    cid = unique_id("P")
    report = Importer().run("parents.jsonl", opener(parents(cid)))
    assert report.counts["created"] == 3
    return cid


def _stored(cid: str, reference: str) -> dict[str, Any] | None:
    return table_module.get(keys.invoice(invoice_id(cid, reference)), consistent=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_row_is_imported_or_reported_and_counts_add_up(collectivite, data):
    name, content, generated = data.draw(files(collectivite))
    fmt = name.rsplit(".", 1)[1]
    if not generated and fmt == "jsonl":
        return  # an empty JSON Lines file is refused whole: covered by its own test
    report = Importer().run(name, opener(content))
    assert report.exception is None and report.status == "done", report.file_error
    counts = report.counts
    assert counts["read"] == len(generated)
    assert counts["read"] == counts["created"] + counts["updated"] + counts["unchanged"] + counts["rejected"]
    good, bad = expected(generated, fmt)
    assert {e["line"] for e in report.errors} == set(bad)
    assert counts["rejected"] == len(bad) == len(report.errors)
    assert all(e["reason"] and e["field"] for e in report.errors)
    assert counts["created"] == len(good)
    for row in good.values():
        item = _stored(collectivite, row.fields["reference"].strip().upper())
        assert item is not None
        assert item["debtor_name"] == text.visible(row.fields["debtor_name"]).strip()
        assert item["amount_cents"] == int(Decimal(row.fields["amount"].replace(",", ".")) * 100)
    for line, row in bad.items():
        ref = row.fields["reference"].strip().upper()
        if all(r.fields["reference"].strip().upper() != ref for r in good.values()):
            assert _stored(collectivite, ref) is None, line
    # Idempotent: the same file again imports nothing new and reports the same lines.
    again = Importer().run(name, opener(content))
    assert again.counts == {
        "read": len(generated),
        "created": 0,
        "updated": 0,
        "unchanged": len(good),
        "rejected": len(bad),
    }
    assert again.errors == report.errors
