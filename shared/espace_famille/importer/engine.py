"""The import itself: validates rows, compares them with what is stored, writes what changed, reports.

Rows are taken in chunks (bounded memory); inside a chunk they are applied kind by kind in dependency
order (collectivité, régie, invoice, line, news). What the file already said is remembered in a SQLite
file on disk, not in memory, so that duplicates are found whatever the file size. Only a row that was
imported blocks a later one with the same identity: a row rejected while being applied is forgotten, so
that a corrected row further down the file goes in. Once the file is read, the invoices whose amount or
lines it changed are checked against the sum of their stored lines (a warning, not a rejection).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from espace_famille import csvsafe
from espace_famille.clock import Clock, iso, system_clock
from espace_famille.dal import catalog
from espace_famille.importer.reader import FileRejected, Opener, RawRow, read_rows
from espace_famille.importer.rows import KINDS, MODELS, row_errors
from espace_famille.model import Collectivite, Debtor, Invoice, InvoiceLine, InvoiceStatus, Regie

CHUNK_ROWS = 100
MAX_REPORTED_ERRORS = 1000
MAX_REPORTED_WARNINGS = 1000
# Collectivités and régies met in a file are remembered; a file naming more than this many forgets them.
MAX_REMEMBERED_PARENTS = 10_000
OUTCOMES = ("read", "created", "updated", "unchanged", "rejected")


@dataclass
class Report:
    file: str
    format: str = ""
    encoding: str = ""
    started_at: str = ""
    finished_at: str = ""
    status: str = "running"  # done | rejected (the whole file) | failed (interrupted: to be run again)
    file_error: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warnings_truncated: bool = False
    # What interrupted a failed import, for the caller to raise again (never part of the report).
    exception: BaseException | None = field(default=None, repr=False)

    def count(self, kind: str | None, outcome: str) -> None:
        self.counts[outcome] += 1
        if kind:
            per = self.by_kind.setdefault(kind, dict.fromkeys(OUTCOMES, 0))
            per[outcome] += 1

    def reject(self, line: int, kind: str | None, field_name: str, reason: str) -> None:
        self.count(kind, "rejected")
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "kind": kind, "field": field_name, "reason": reason})
        else:
            self.errors_truncated = True

    def warn(self, line: int, kind: str, field_name: str, reason: str) -> None:
        if len(self.warnings) < MAX_REPORTED_WARNINGS:
            self.warnings.append({"line": line, "kind": kind, "field": field_name, "reason": reason})
        else:
            self.warnings_truncated = True

    def as_csv(self) -> str:
        """Errors and warnings as a CSV for a spreadsheet, formula-looking cells neutralised (csvsafe)."""
        rows = [(e["line"], "erreur", e["kind"], e["field"], e["reason"]) for e in self.errors]
        rows += [(w["line"], "avertissement", w["kind"], w["field"], w["reason"]) for w in self.warnings]
        rows.sort(key=lambda r: int(r[0]))
        return csvsafe.text(["ligne", "niveau", "type", "champ", "raison"], rows)

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
            "warnings": self.warnings,
            "warnings_truncated": self.warnings_truncated,
        }


@dataclass
class _Row:
    line: int
    kind: str
    record: Any
    ident: str = ""
    rejected: bool = False  # while being applied


class _Seen:
    """What this import already met, on disk: flat memory for any file size.

    Row identities (kind + key), to find duplicates; and the debtors known to be stored as the file names
    them, so that a debtor billed on every other row is looked up once, not once per chunk.
    """

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="import-seen-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE seen (ident TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self.db.execute("CREATE TABLE debtor (ident TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID")
        # Invoices whose amount or lines this import wrote, to check their totals at the end. `created`:
        # the invoice is new, so all its stored lines are the ones counted here (no read needed).
        self.db.execute(
            "CREATE TABLE touched (invoice_id TEXT PRIMARY KEY, line INTEGER, kind TEXT, reference TEXT,"
            " created INTEGER, amount INTEGER, lines_sum INTEGER, lines INTEGER) WITHOUT ROWID"
        )

    def first_line(self, ident: str, line: int) -> int | None:
        """None the first time an identity is met; then the line where it was first met."""
        cur = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (ident, line))
        if cur.rowcount == 1:
            return None
        found = self.db.execute("SELECT line FROM seen WHERE ident = ?", (ident,)).fetchone()
        return int(found[0])

    def forget(self, ident: str) -> None:
        """A row of this identity was rejected while being applied: it no longer blocks a later one."""
        self.db.execute("DELETE FROM seen WHERE ident = ?", (ident,))

    def invoice_written(self, invoice: Invoice, line: int, created: bool) -> None:
        self.db.execute(
            "INSERT INTO touched VALUES (?, ?, 'invoice', ?, ?, ?, 0, 0)"
            " ON CONFLICT (invoice_id) DO UPDATE SET amount = excluded.amount",
            (invoice.invoice_id, line, invoice.reference, int(created), invoice.amount_cents),
        )

    def line_written(self, invoice_line: InvoiceLine, line: int) -> None:
        self.db.execute(
            "INSERT INTO touched VALUES (?, ?, 'invoice_line', ?, 0, NULL, ?, 1) ON CONFLICT (invoice_id)"
            " DO UPDATE SET lines_sum = lines_sum + excluded.lines_sum, lines = lines + 1",
            (invoice_line.invoice_id, line, invoice_line.reference, invoice_line.amount_cents),
        )

    def touched(self) -> Iterator[tuple[str, int, str, str, bool, int | None, int, int]]:
        """The invoices this import changed, in the order of the file's lines."""
        cursor = self.db.execute("SELECT * FROM touched ORDER BY line")
        while rows := cursor.fetchmany(500):
            for iid, line, kind, reference, created, amount, lines_sum, lines in rows:
                yield str(iid), int(line), str(kind), str(reference), bool(created), amount, int(lines_sum), int(lines)

    def debtor_names(self, idents: list[str]) -> dict[str, str]:
        """The names of those debtors known to be stored (written or read earlier in this import)."""
        marks = ",".join("?" * len(idents))
        rows = self.db.execute(f"SELECT ident, name FROM debtor WHERE ident IN ({marks})", idents)  # noqa: S608 - only ?s
        return {str(ident): str(name) for ident, name in rows}

    def remember_debtors(self, names: dict[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO debtor VALUES (?, ?)", list(names.items()))

    def close(self) -> None:
        self.db.close()
        os.unlink(self.path)


def _debtor_ident(debtor: Debtor) -> str:
    return f"{debtor.collectivite_id}|{debtor.regie_id}|{debtor.debtor_id}"


class Importer:
    """Imports one file; the same code runs in the S3-triggered function and in the ops command."""

    def __init__(self, clock: Clock = system_clock, progress: Callable[[int], None] | None = None) -> None:
        self.clock = clock
        self.progress = progress
        # Collectivités and régies are few: remember them once looked up (None: known to be absent).
        self._collectivites: dict[str, Collectivite | None] = {}
        self._regies: dict[tuple[str, str], Regie | None] = {}
        self._seen: _Seen | None = None

    def run(self, file_name: str, open_stream: Opener) -> Report:
        """The report of the import; never raises for what the file holds.

        An unexpected failure (DynamoDB unavailable…) ends the import with status "failed" and the
        exception in `report.exception`: what was written stays (every write is idempotent), and running
        the same file again completes it.
        """
        report = Report(file=file_name, started_at=iso(self.clock()))
        self._collectivites.clear()
        self._regies.clear()
        seen = self._seen = _Seen()
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
            self._check_totals(report, seen)
            report.status = "done"
        except FileRejected as exc:
            report.status = "rejected"
            report.file_error = str(exc)
        except Exception as exc:
            report.status = "failed"
            # The type only: a message could quote the data (and a row holds a key).
            report.file_error = f"import interrompu par une erreur technique ({type(exc).__name__}) : le relancer"
            report.exception = exc
        finally:
            seen.close()
            # Kinds are applied in dependency order within a chunk: give the errors back in file order.
            report.errors.sort(key=lambda e: int(e["line"]))
            report.warnings.sort(key=lambda e: int(e["line"]))
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
                reason = errors[0][1] + "".join(f" ; {f} : {r}" for f, r in errors[1:])
                report.reject(raw.line, raw.kind, errors[0][0], reason[:500])
                continue
            valid.append(_Row(raw.line, raw.kind, record, f"{raw.kind}|{_identity(record)}"))
        for kind in KINDS:
            # A row whose identity an earlier row of this chunk holds waits for the next round: it is a
            # duplicate only if that row is imported. All rounds of a kind come before the next kind, so
            # that a corrected invoice is there for the lines that follow it.
            pending = [r for r in valid if r.kind == kind]
            while pending:
                batch, waiting, held = [], [], set()
                for row in pending:
                    if row.ident in held:
                        waiting.append(row)
                        continue
                    first = seen.first_line(row.ident, row.line)
                    if first is not None:
                        reason = f"en double dans le fichier (déjà ligne {first})"
                        report.reject(row.line, row.kind, _identity_field(row.kind), reason)
                        continue
                    held.add(row.ident)
                    batch.append(row)
                if batch:
                    getattr(self, f"_apply_{kind}")(batch, report)
                for row in batch:
                    if row.rejected:
                        seen.forget(row.ident)
                pending = waiting
        if self.progress is not None:
            self.progress(len(chunk))

    @staticmethod
    def _reject(row: _Row, report: Report, field_name: str, reason: str) -> None:
        report.reject(row.line, row.kind, field_name, reason)
        row.rejected = True

    # -- parents (collectivités and régies) -------------------------------------------------------------
    def _know_parents(self, rows: list[_Row]) -> None:
        """Looks up, once per import, the collectivités and régies these rows name."""
        if len(self._collectivites) + len(self._regies) > MAX_REMEMBERED_PARENTS:
            self._collectivites.clear()
            self._regies.clear()
        cids = {r.record.collectivite_id for r in rows} - self._collectivites.keys()
        rids = {
            (r.record.collectivite_id, r.record.regie_id) for r in rows if isinstance(r.record, Invoice | Regie)
        } - self._regies.keys()
        if not cids and not rids:
            return
        found = catalog.lookup(collectivites=cids, regies=rids, consistent=True)
        for cid in cids:
            self._collectivites[cid] = found.collectivite(cid)
        for cid, rid in rids:
            self._regies[(cid, rid)] = found.regie(cid, rid)

    def _unknown_collectivite(self, record: Any) -> tuple[str, str] | None:
        if self._collectivites.get(record.collectivite_id) is None:
            return "collectivite_id", f"collectivité inconnue : {record.collectivite_id}"
        return None

    def _unknown_parent(self, record: Any) -> tuple[str, str] | None:
        problem = self._unknown_collectivite(record)
        if problem is None and self._regies.get((record.collectivite_id, record.regie_id)) is None:
            return "regie_id", f"régie inconnue : {record.regie_id} (collectivité {record.collectivite_id})"
        return problem

    # -- each kind ---------------------------------------------------------------------------------
    def _apply_simple(
        self, rows: list[_Row], report: Report, check: Callable[[Any], tuple[str, str] | None]
    ) -> list[Any]:
        """Writes new or changed records whose parent check passes; returns the records now stored."""
        found = catalog.lookup(records=[r.record for r in rows], consistent=True)
        to_write, stored = [], []
        for row in rows:
            problem = check(row.record)
            if problem:
                self._reject(row, report, *problem)
                continue
            stored.append(row.record)
            old = found.stored(row.record)
            if old is not None and catalog.as_plain(old) == catalog.as_plain(row.record):
                report.count(row.kind, "unchanged")
                continue
            to_write.append(row.record)
            report.count(row.kind, "updated" if old is not None else "created")
        catalog.put_all(to_write)
        return stored

    def _apply_collectivite(self, rows: list[_Row], report: Report) -> None:
        for record in self._apply_simple(rows, report, lambda r: None):
            # Known from now on, without reading back what was just written.
            self._collectivites[record.collectivite_id] = record

    def _apply_regie(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        for record in self._apply_simple(rows, report, self._unknown_collectivite):
            self._regies[(record.collectivite_id, record.regie_id)] = record

    def _apply_news(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        self._apply_simple(rows, report, self._unknown_collectivite)

    def _apply_invoice(self, rows: list[_Row], report: Report) -> None:
        self._know_parents(rows)
        accepted: list[_Row] = []
        for row in rows:
            problem = self._unknown_parent(row.record)
            if problem:
                self._reject(row, report, *problem)
            else:
                accepted.append(row)
        if not accepted:
            return
        invoices: list[Invoice] = [r.record for r in accepted]
        assert self._seen is not None
        debtors = {_debtor_ident(d): d for d in map(_debtor_of, invoices)}
        known = self._seen.debtor_names(list(debtors))  # ident -> name as stored
        unknown = [d for ident, d in debtors.items() if ident not in known]
        found = catalog.lookup(records=[*invoices, *unknown], consistent=True)
        for looked_up in unknown:
            stored_debtor = found.stored(looked_up)
            if isinstance(stored_debtor, Debtor):
                known[_debtor_ident(looked_up)] = stored_debtor.name
        now = iso(self.clock())
        writes: list[Invoice] = []
        debtor_writes: dict[str, Debtor] = {}  # one per debtor: a batch may not name a key twice
        for row in accepted:
            new: Invoice = row.record
            old = found.stored(new)
            outcome, write, rejection = _invoice_change(old if isinstance(old, Invoice) else None, new, now)
            if rejection:
                self._reject(row, report, *rejection)
                continue
            ident = _debtor_ident(_debtor_of(new))
            debtor = _debtor_of(new) if write is not None and known.get(ident) != new.debtor_name else None
            if write is not None and old is not None:
                # An update must not race a payment that locks the invoice meanwhile: conditional, and
                # with the debtor's new name if any, in one transaction.
                if not catalog.replace_open_invoice(write, now, debtor):
                    self._reject(row, report, "reference", "facture prise par un paiement entre-temps : non modifiée")
                    continue
                if debtor is not None:
                    debtor_writes.pop(ident, None)  # written already, and later in the file than that one
            elif write is not None:
                writes.append(write)
                if debtor is not None:
                    debtor_writes[ident] = debtor
            if debtor is not None:
                known[ident] = debtor.name
            if write is not None:
                self._seen.invoice_written(write, row.line, created=old is None)
            report.count("invoice", outcome)
        catalog.put_all([*writes, *debtor_writes.values()])
        self._seen.remember_debtors({ident: name for ident, name in known.items() if ident in debtors})

    def _apply_invoice_line(self, rows: list[_Row], report: Report) -> None:
        lines: list[InvoiceLine] = [r.record for r in rows]
        found = catalog.lookup(invoices={line.invoice_id for line in lines}, records=lines, consistent=True)
        now = iso(self.clock())
        to_write: list[_Row] = []
        for row in rows:
            line = row.record
            invoice = found.invoice(line.invoice_id)
            if invoice is None:
                self._reject(
                    row,
                    report,
                    "reference",
                    f"facture inconnue : {line.reference} (collectivité {line.collectivite_id})",
                )
                continue
            if abs(line.amount_cents) > invoice.amount_cents:
                self._reject(
                    row,
                    report,
                    "amount",
                    f"montant de la ligne au-delà de celui de la facture (± {euros(invoice.amount_cents)})",
                )
                continue
            old = found.stored(line)
            if old is not None and catalog.as_plain(old) == catalog.as_plain(line):
                report.count("invoice_line", "unchanged")
                continue
            if old is not None:
                # A new line may complete any invoice; an existing one changes only with an open invoice.
                if invoice.status != InvoiceStatus.OPEN:
                    status = "payée" if invoice.status == InvoiceStatus.PAID else "annulée"
                    self._reject(row, report, "reference", f"facture {status} : ses lignes ne changent plus")
                    continue
                if invoice.locked_at(now):
                    self._reject(row, report, "reference", "facture en cours de paiement : ligne non modifiée")
                    continue
            to_write.append(row)
            report.count("invoice_line", "updated" if old is not None else "created")
        catalog.put_all([row.record for row in to_write])
        assert self._seen is not None
        for row in to_write:
            self._seen.line_written(row.record, row.line)

    # -- after the whole file ------------------------------------------------------------------------
    def _check_totals(self, report: Report, seen: _Seen) -> None:
        """Warns of each invoice this import changed whose stored lines do not sum to its amount.

        A new invoice's lines are all in this file (a line needs its invoice), so its sum is known here;
        an invoice that existed before is read back: one Query of its own partition.
        """
        for iid, line, kind, reference, created, amount, lines_sum, lines in seen.touched():
            if created and amount is not None:
                expected, total, count = amount, lines_sum, lines
            else:
                found = catalog.invoice_totals(iid)
                if found is None:
                    continue
                expected, total, count = found
            if count and total != expected:
                report.warn(
                    line,
                    kind,
                    "amount",
                    f"les lignes de la facture {reference} totalisent {euros(total)} pour un montant de "
                    f"{euros(expected)}",
                )


def euros(cents: int) -> str:
    """12345 -> '123,45 €' (French form, for reports)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole},{rest:02d} €"


def _debtor_of(invoice: Invoice) -> Debtor:
    return Debtor(invoice.collectivite_id, invoice.regie_id, invoice.debtor_id, invoice.debtor_name)


_IMMUTABLE_LABELS = {"debtor_id": "débiteur", "issued_on": "date de la facture", "key_digest": "clé"}


def _invoice_change(old: Invoice | None, new: Invoice, now: str) -> tuple[str, Invoice | None, tuple[str, str] | None]:
    """(outcome, invoice to write, rejection as (field, reason)) for an invoice row against the stored one."""
    if old is None:
        return "created", new, None
    if old.regie_id != new.regie_id:
        return (
            "rejected",
            None,
            ("reference", f"référence déjà utilisée par la régie {old.regie_id} de la collectivité"),
        )
    for name, label in _IMMUTABLE_LABELS.items():
        if getattr(old, name) != getattr(new, name):
            column = "key" if name == "key_digest" else name
            return "rejected", None, (column, f"{label} d’une facture existante : ne peut pas changer")
    if old.status == InvoiceStatus.PAID:
        if new.status == InvoiceStatus.PAID and new.amount_cents == old.amount_cents:
            return "unchanged", None, None  # the portal's own payment record stays as it is
        if new.status == InvoiceStatus.OPEN:
            return "rejected", None, ("status", "facture déjà payée : elle ne repasse pas à payer")
        return "rejected", None, ("status", "facture déjà payée : elle ne peut plus changer")
    # What the file says, on top of what only the portal knows (a payment's lock).
    merged = replace(new, lock_payment_id=old.lock_payment_id, lock_until=old.lock_until)
    if _same(old, merged):
        return "unchanged", None, None
    if old.status == InvoiceStatus.CANCELLED:
        return "rejected", None, ("status", "facture annulée : elle ne peut plus changer")
    if old.locked_at(now):
        return "rejected", None, ("reference", "facture en cours de paiement : non modifiée")
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
