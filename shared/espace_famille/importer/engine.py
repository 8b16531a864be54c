"""The import itself: validates rows, compares them with what is stored, writes what changed, reports.

Rows are taken in chunks (bounded memory); inside a chunk they are applied kind by kind in dependency
order (collectivité, régie, invoice, line, news). What the file already said is remembered in a SQLite
file on disk, not in memory, so that duplicates are found whatever the file size.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from espace_famille.clock import Clock, iso, system_clock
from espace_famille.dal import catalog
from espace_famille.importer.reader import FileRejected, Opener, RawRow, read_rows
from espace_famille.importer.rows import KINDS, MODELS, row_errors
from espace_famille.model import Collectivite, Debtor, Invoice, InvoiceLine, Regie

CHUNK_ROWS = 100
MAX_REPORTED_ERRORS = 1000
_ORDER = {kind: i for i, kind in enumerate(KINDS)}
_IMMUTABLE = ("debtor_id", "issued_on", "key_digest", "regie_id")


@dataclass
class Report:
    file: str
    format: str = ""
    encoding: str = ""
    started_at: str = ""
    finished_at: str = ""
    status: str = "running"  # done | rejected
    file_error: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"read": 0, "created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    )
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def count(self, kind: str | None, outcome: str) -> None:
        self.counts[outcome] += 1
        if outcome != "read" and kind:
            per = self.by_kind.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0})
            per[outcome] += 1

    def reject(self, line: int, kind: str | None, field_name: str, reason: str) -> None:
        self.count(kind, "rejected")
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "field": field_name, "reason": reason})
        else:
            self.errors_truncated = True

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding,
            "status": self.status,
            "file_error": self.file_error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": dict(self.counts),
            "by_kind": self.by_kind,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
        }


@dataclass
class _Row:
    line: int
    kind: str
    record: Any


class _Seen:
    """Identities already met in this file (kind + key), on disk: flat memory for any file size."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="import-seen-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE seen (ident TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")

    def first_line(self, ident: str, line: int) -> int | None:
        """None the first time an identity is met; then the line where it was first met."""
        cur = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (ident, line))
        if cur.rowcount == 1:
            return None
        found = self.db.execute("SELECT line FROM seen WHERE ident = ?", (ident,)).fetchone()
        return int(found[0])

    def close(self) -> None:
        self.db.close()
        os.unlink(self.path)


class Importer:
    def __init__(self, clock: Clock = system_clock, progress: Callable[[int], None] | None = None) -> None:
        self.clock = clock
        self.progress = progress
        # Collectivités and régies are few: remember them once looked up (None: known to be absent).
        self._collectivites: dict[str, Collectivite | None] = {}
        self._regies: dict[tuple[str, str], Regie | None] = {}

    def run(self, file_name: str, open_stream: Opener) -> Report:
        report = Report(file=file_name, started_at=iso(self.clock()))
        seen = _Seen()
        try:
            report.format, report.encoding, rows = read_rows(file_name, open_stream)
            chunk: list[RawRow] = []
            for raw in rows:
                chunk.append(raw)
                if len(chunk) >= CHUNK_ROWS:
                    self._chunk(chunk, report, seen)
                    chunk = []
            if chunk:
                self._chunk(chunk, report, seen)
            report.status = "done"
        except FileRejected as exc:
            report.status = "rejected"
            report.file_error = str(exc)
        finally:
            seen.close()
            report.finished_at = iso(self.clock())
        return report

    # -- one chunk ---------------------------------------------------------------------------------
    def _chunk(self, chunk: list[RawRow], report: Report, seen: _Seen) -> None:
        valid: list[_Row] = []
        for raw in chunk:
            report.count(raw.kind, "read")
            if raw.error is not None or raw.fields is None or raw.kind is None:
                field_name, reason = raw.error or ("ligne", "ligne illisible")
                report.reject(raw.line, raw.kind, field_name, reason)
                continue
            try:
                record = MODELS[raw.kind].model_validate(raw.fields).record()  # type: ignore[attr-defined]
            except ValidationError as exc:
                errors = row_errors(exc)
                report.reject(raw.line, raw.kind, errors[0][0], "; ".join(f"{f} : {r}" for f, r in errors)[:500])
                continue
            first = seen.first_line(f"{raw.kind}|{_identity(record)}", raw.line)
            if first is not None:
                report.reject(
                    raw.line, raw.kind, _identity_field(raw.kind), f"en double dans le fichier (déjà ligne {first})"
                )
                continue
            valid.append(_Row(raw.line, raw.kind, record))
        valid.sort(key=lambda r: _ORDER[r.kind])
        for kind in KINDS:
            rows = [r for r in valid if r.kind == kind]
            if rows:
                getattr(self, f"_apply_{kind}")(rows, report)
        if self.progress is not None:
            self.progress(len(chunk))

    # -- parents (collectivités and régies) -------------------------------------------------------------
    def _know_parents(self, rows: list[_Row]) -> None:
        """Looks up, once per import, the collectivités and régies these rows name."""
        cids = {r.record.collectivite_id for r in rows} - self._collectivites.keys()
        rids = {
            (r.record.collectivite_id, r.record.regie_id) for r in rows if isinstance(r.record, Invoice | Regie)
        } - self._regies.keys()
        if not cids and not rids:
            return
        found = catalog.lookup(collectivites=cids, regies=rids)
        for cid in cids:
            self._collectivites[cid] = found.collectivite(cid)
        for cid, rid in rids:
            self._regies[(cid, rid)] = found.regie(cid, rid)

    def _unknown_collectivite(self, record: Any) -> str | None:
        if self._collectivites.get(record.collectivite_id) is None:
            return f"collectivité inconnue : {record.collectivite_id}"
        return None

    # -- each kind ---------------------------------------------------------------------------------
    def _apply_simple(self, rows: list[_Row], report: Report, check: Callable[[Any], str | None]) -> list[Any]:
        """Writes new or changed records whose parent check passes; returns what was written."""
        found = catalog.lookup(records=[r.record for r in rows])
        to_write = []
        for row in rows:
            problem = check(row.record)
            if problem:
                report.reject(row.line, row.kind, "collectivite_id", problem)
                continue
            old = found.stored(row.record)
            if old is not None and catalog.as_plain(old) == catalog.as_plain(row.record):
                report.count(row.kind, "unchanged")
                continue
            to_write.append(row.record)
            report.count(row.kind, "updated" if old is not None else "created")
        catalog.put_all(to_write)
        return to_write

    def _apply_collectivite(self, rows: list[_Row], report: Report) -> None:
        self._apply_simple(rows, report, lambda r: None)
        for row in rows:
            self._collectivites.pop(row.record.collectivite_id, None)

    def _apply_regie(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        self._apply_simple(rows, report, self._unknown_collectivite)
        for row in rows:
            self._regies.pop((row.record.collectivite_id, row.record.regie_id), None)

    def _apply_news(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        self._apply_simple(rows, report, self._unknown_collectivite)

    def _apply_invoice(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        invoices: list[Invoice] = [r.record for r in rows]
        debtors = {
            (i.collectivite_id, i.regie_id, i.debtor_id): Debtor(
                i.collectivite_id, i.regie_id, i.debtor_id, i.debtor_name
            )
            for i in invoices
        }
        found = catalog.lookup(records=[*invoices, *debtors.values()])
        now = iso(self.clock())
        writes: list[Invoice | Debtor] = []
        written_debtors: set[tuple[str, str, str]] = set()
        for row in rows:
            new: Invoice = row.record
            problem = self._unknown_collectivite(new)
            if problem:
                report.reject(row.line, "invoice", "collectivite_id", problem)
                continue
            if self._regies.get((new.collectivite_id, new.regie_id)) is None:
                report.reject(row.line, "invoice", "regie_id", f"régie inconnue : {new.regie_id}")
                continue
            old = found.stored(new)
            outcome, write, rejection = _invoice_change(old if isinstance(old, Invoice) else None, new, now)
            if rejection:
                report.reject(row.line, "invoice", rejection[0], rejection[1])
                continue
            if write is not None and old is not None:
                # An update must not race a payment that locks the invoice meanwhile: conditional, alone.
                if not catalog.replace_open_invoice(write, now):
                    report.reject(row.line, "invoice", "reference", "facture en cours de paiement : non modifiée")
                    continue
            elif write is not None:
                writes.append(write)
            report.count("invoice", outcome)
            dkey = (new.collectivite_id, new.regie_id, new.debtor_id)
            if outcome != "unchanged" and dkey not in written_debtors and found.stored(debtors[dkey]) != debtors[dkey]:
                writes.append(debtors[dkey])
                written_debtors.add(dkey)
        catalog.put_all(writes)

    def _apply_invoice_line(self, rows: list[_Row], report: Report) -> None:
        lines: list[InvoiceLine] = [r.record for r in rows]
        found = catalog.lookup(invoices={line.invoice_id for line in lines}, records=lines)
        to_write = []
        for row in rows:
            line = row.record
            if found.invoice(line.invoice_id) is None:
                report.reject(row.line, "invoice_line", "reference", f"facture inconnue : {line.reference}")
                continue
            old = found.stored(line)
            if old is not None and catalog.as_plain(old) == catalog.as_plain(line):
                report.count("invoice_line", "unchanged")
                continue
            to_write.append(line)
            report.count("invoice_line", "updated" if old is not None else "created")
        catalog.put_all(to_write)


def _invoice_change(old: Invoice | None, new: Invoice, now: str) -> tuple[str, Invoice | None, tuple[str, str] | None]:
    """(outcome, invoice to write, rejection) for an invoice row against the stored invoice."""
    if old is None:
        return "created", new, None
    if old.regie_id != new.regie_id:
        return (
            "rejected",
            None,
            ("reference", f"référence déjà utilisée par la régie {old.regie_id} de la collectivité"),
        )
    for name in _IMMUTABLE:
        if getattr(old, name) != getattr(new, name):
            label = {"debtor_id": "debtor_id", "issued_on": "issued_on", "key_digest": "key"}.get(name, name)
            return "rejected", None, (label, "ce champ d’une facture existante ne peut pas changer")
    # What the file says, on top of what only the portal knows (payment, lock).
    merged = replace(
        new,
        paid_by=new.paid_by if new.status == "paid" else None,
        lock_payment_id=old.lock_payment_id,
        lock_until=old.lock_until,
    )
    if old.status == "paid":
        if new.status == "paid" and new.amount_cents == old.amount_cents:
            return "unchanged", None, None  # the portal's own payment record stays as it is
        return "rejected", None, ("status", "facture déjà payée : elle ne peut plus changer")
    if old.status == "cancelled":
        if _same(old, merged):
            return "unchanged", None, None
        return "rejected", None, ("status", "facture annulée : elle ne peut plus changer")
    if _same(old, merged):
        return "unchanged", None, None
    if old.locked_at(now):
        return "rejected", None, ("reference", "facture en cours de paiement : non modifiée")
    if merged.status == "open":
        merged = replace(merged, paid_at=None, paid_by=None)
    return "updated", merged, None


def _same(a: Invoice, b: Invoice) -> bool:
    return catalog.as_plain(a) == catalog.as_plain(b)


def _identity(record: Any) -> str:
    if isinstance(record, Collectivite):
        return record.collectivite_id
    if isinstance(record, Regie):
        return f"{record.collectivite_id}|{record.regie_id}"
    if isinstance(record, Invoice):
        return f"{record.collectivite_id}|{record.reference}"
    if isinstance(record, InvoiceLine):
        return f"{record.collectivite_id}|{record.reference}|{record.line_no}"
    return f"{record.collectivite_id}|{record.news_id}"


def _identity_field(kind: str) -> str:
    return {
        "collectivite": "collectivite_id",
        "regie": "regie_id",
        "invoice": "reference",
        "invoice_line": "line_no",
        "news": "news_id",
    }[kind]
