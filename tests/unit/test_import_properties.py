"""Property: whatever bytes a file holds, the import never raises, and every row read is imported or reported.

The catalog is an in-memory stand-in here (no AWS), so that many odd files can be tried quickly; the same
property over well-formed and broken invoice rows runs against moto in tests/integration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hypothesis import event, given, settings
from hypothesis import strategies as st

from espace_famille.dal import catalog, keys
from espace_famille.importer.engine import Importer, Report
from espace_famille.importer.rows import COLUMNS, KINDS
from espace_famille.model import Collectivite, Invoice, InvoiceLine, Regie
from tests.import_support import opener


class MemoryCatalog:
    """The catalog's import operations over a dict, with a collectivité J and its régie CANTINE."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Any] = {}
        self.put_all([Collectivite("J", "Ville"), Regie("J", "CANTINE", "Cantine", "none", {})])

    @staticmethod
    def _ident(key: dict[str, str]) -> tuple[str, str]:
        return key["PK"], key["SK"]

    def lookup(self, *, collectivites=(), regies=(), invoices=(), records=(), consistent=False) -> catalog.Found:
        wanted = [keys.collectivite(c) for c in collectivites] + [keys.regie(c, r) for c, r in regies]
        wanted += [keys.invoice(i) for i in invoices] + [catalog.key_of(r) for r in records]
        return catalog.Found(
            {self._ident(k): self.items[self._ident(k)] for k in wanted if self._ident(k) in self.items}
        )

    def put_all(self, records: Any) -> int:
        idents = [self._ident(catalog.key_of(r)) for r in records]
        assert len(idents) == len(set(idents)), "BatchWriteItem refuses one key twice in a batch"
        for ident, record in zip(idents, records, strict=True):
            self.items[ident] = record
        return len(idents)

    def replace_open_invoice(self, new: Invoice, now_iso: str, debtor: Any = None) -> bool:
        old = self.items.get(self._ident(catalog.key_of(new)))
        if not isinstance(old, Invoice) or old.status != "open" or old.locked_at(now_iso):
            return False
        self.put_all([new, *([debtor] if debtor else [])])
        return True

    def invoice_totals(self, invoice_id: str) -> tuple[int, int, int] | None:
        partition = keys.invoice_partition(invoice_id)
        found = [r for (pk, _), r in self.items.items() if pk == partition]
        invoices = [r for r in found if isinstance(r, Invoice)]
        lines = [r for r in found if isinstance(r, InvoiceLine)]
        if not invoices:
            return None
        return invoices[0].amount_cents, sum(line.amount_cents for line in lines), len(lines)


@contextmanager
def in_memory() -> Iterator[MemoryCatalog]:
    memory = MemoryCatalog()
    with (
        mock.patch.object(catalog, "lookup", memory.lookup),
        mock.patch.object(catalog, "put_all", memory.put_all),
        mock.patch.object(catalog, "replace_open_invoice", memory.replace_open_invoice),
        mock.patch.object(catalog, "invoice_totals", memory.invoice_totals),
    ):
        yield memory


def check(report: Report) -> None:
    assert report.exception is None, repr(report.exception)
    assert report.status in ("done", "rejected")
    counts = report.counts
    assert counts["read"] == counts["created"] + counts["updated"] + counts["unchanged"] + counts["rejected"]
    assert len(report.errors) == counts["rejected"]
    if report.status == "rejected":
        assert report.file_error and counts["read"] == 0
    for error in report.errors:
        assert isinstance(error["line"], int) and error["line"] >= 1
        assert error["field"] and error["reason"]
    assert [e["line"] for e in report.errors] == sorted(e["line"] for e in report.errors)
    json.dumps(report.as_json())


NAMES = st.sampled_from(["factures.csv", "lignes.csv", "regies.csv", "actualites.csv", "collectivites.csv", "x.jsonl"])


@settings(max_examples=150, deadline=None)
@given(name=NAMES, data=st.binary(max_size=600))
def test_any_bytes(name, data):
    with in_memory():
        check(Importer().run(name, opener(data)))


# Cells that have broken importers before: separators, quotes, BOMs, line breaks, odd numbers and dates.
CELLS = st.one_of(
    st.sampled_from(
        [
            "J",
            "j",
            "CANTINE",
            "R1",
            "r 1",
            "K1",
            "",
            " ",
            '"',
            '""',
            '"a;b"',
            ";",
            "\ufeff",
            "\r",
            "€",
            "23,45",
            "-1",
            "0",
            "1E+999999999",
            "NaN",
            "9" * 40,
            "01/08/2017",
            "31/02/2017",
            "2017-08-01",
            "11/07/2017 16:28:09",
            "payée",
            "open",
            "numcli=000001",
            "²",
        ]
    ),
    # Any text but NUL, which refuses the whole file (tried by test_any_bytes).
    # Any character a file can hold: not NUL, and no lone surrogate (no encoding can write one).
    st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=8),
)


@st.composite
def csv_files(draw: Any) -> tuple[str, bytes]:
    name = draw(NAMES.filter(lambda n: n.endswith(".csv")))
    kind = {"f": "invoice", "l": "invoice_line", "r": "regie", "a": "news", "c": "collectivite"}[name[0]]
    columns = draw(st.permutations(COLUMNS[kind]))
    lines = [";".join(columns)]
    for _ in range(draw(st.integers(0, 12))):
        width = draw(st.sampled_from([len(columns), len(columns), len(columns), 1, len(columns) + 1]))
        lines.append(";".join(draw(st.lists(CELLS, min_size=width, max_size=width))))
    ending = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    return name, text.encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None)
@given(file=csv_files())
def test_csv_files_of_odd_cells(file):
    name, data = file
    with in_memory():
        report = Importer().run(name, opener(data))
        check(report)
        event(f"status {report.status}, rows read: {min(report.counts['read'], 1)}")


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), CELLS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def jsonl_files(draw: Any) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from([*KINDS, "facture", None]))
        fields = draw(
            st.dictionaries(st.sampled_from([*COLUMNS.get(kind or "", []), "extra"]), JSON_VALUES, max_size=12)
        )
        line = json.dumps({"kind": kind, **fields}, ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 9)) == 0:
            line = line[: draw(st.integers(0, len(line)))]
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


@settings(max_examples=150, deadline=None)
@given(data=jsonl_files())
def test_json_lines_of_odd_values(data):
    with in_memory():
        check(Importer().run("x.jsonl", opener(data)))
