"""Reads an import file as a stream: encoding, CSV (French office style) or JSON Lines, into raw rows.

Memory stays bounded whatever the file size: the file is read twice as a stream (once to settle its
encoding, once to import it) and no physical line longer than MAX_LINE_CHARS is ever held.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from espace_famille.importer.rows import COLUMNS, KINDS, REQUIRED

MAX_LINE_CHARS = 100_000
_CHUNK = 64 * 1024

Opener = Callable[[], IO[bytes]]

# How a CSV file names its kind: its file name starts with one of these (longest first).
CSV_KIND_PREFIXES = (
    ("invoice_line", "invoice_line"),
    ("invoice-line", "invoice_line"),
    ("lignes", "invoice_line"),
    ("collectivite", "collectivite"),
    ("regie", "regie"),
    ("invoice", "invoice"),
    ("factures", "invoice"),
    ("facture", "invoice"),
    ("news", "news"),
    ("actualites", "news"),
)


class FileRejected(Exception):
    """The whole file is refused (nothing imported): unreadable encoding, wrong header, unknown kind…"""


@dataclass(frozen=True)
class RawRow:
    line: int  # physical line where the row starts (the CSV header is line 1)
    kind: str | None
    fields: dict[str, Any] | None  # None when the row could not even be split into fields
    error: tuple[str, str] | None = None  # (field, reason) for rows refused while reading


def detect_encoding(open_stream: Opener) -> str:
    """'utf-8-sig' or 'cp1252' (French Excel's "CSV (séparateur : point-virgule)"), reading the whole file."""
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        try:
            with open_stream() as stream:
                while chunk := stream.read(_CHUNK):
                    decoder.decode(chunk)
                    offset += len(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return "utf-8-sig" if encoding == "utf-8" else encoding
    raise FileRejected("encodage non reconnu : le fichier n’est ni en UTF-8 ni en Windows-1252")


class _Lines:
    """Physical lines of a text stream, each cut at MAX_LINE_CHARS; over-long lines are reported, not kept."""

    def __init__(self, text_stream: IO[str]) -> None:
        self.stream = text_stream
        self.line_no = 0
        self.too_long: list[int] = []

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.stream.readline(MAX_LINE_CHARS)
            if not line:
                return
            self.line_no += 1
            if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
                while True:  # skip the rest of the over-long line without keeping it
                    rest = self.stream.readline(MAX_LINE_CHARS)
                    if not rest or rest.endswith("\n"):
                        break
                self.too_long.append(self.line_no)
                yield "\n"
                continue
            yield line


class _RawBytes(io.RawIOBase):
    """Any object with read(n) (an S3 StreamingBody) as a raw stream that io can buffer and decode."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        super().close()


def _text(stream: IO[bytes], encoding: str) -> IO[str]:
    return io.TextIOWrapper(io.BufferedReader(_RawBytes(stream), _CHUNK), encoding=encoding, newline="")


def csv_kind(file_name: str) -> str:
    # A leading number only orders the files of a batch ("02-factures.csv").
    base = re.sub(r"^\d+[-_ .]*", "", file_name.rsplit("/", 1)[-1].lower())
    for prefix, kind in CSV_KIND_PREFIXES:
        if base.startswith(prefix):
            return kind
    raise FileRejected(
        "type de fichier CSV inconnu : son nom doit commencer par collectivite, regie, invoice, "
        "invoice_line ou news (ou factures, lignes, actualites)"
    )


def file_format(file_name: str) -> str:
    lower = file_name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise FileRejected("format de fichier inconnu : extension .csv ou .jsonl attendue")


def read_csv(stream: IO[bytes], encoding: str, kind: str) -> Iterator[RawRow]:
    lines = _Lines(_text(stream, encoding))
    reader = csv.reader(iter(lines), delimiter=";", quotechar='"', strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise FileRejected("fichier vide") from None
    except csv.Error as exc:
        raise FileRejected(f"en-tête illisible : {exc}") from exc
    if lines.too_long and lines.too_long[0] == 1:
        raise FileRejected("en-tête trop long")
    columns = [c.strip().lstrip("\ufeff").lower() for c in header]
    if len(columns) == 1 and ("," in columns[0] or "\t" in columns[0]):
        raise FileRejected("séparateur incorrect : les colonnes doivent être séparées par « ; »")
    unknown = [c for c in columns if c not in COLUMNS[kind]]
    if unknown:
        raise FileRejected(f"colonnes inconnues pour le type {kind} : {', '.join(unknown)[:200]}")
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        raise FileRejected(f"colonnes manquantes pour le type {kind} : {', '.join(missing)}")
    if len(set(columns)) != len(columns):
        raise FileRejected("colonne en double dans l’en-tête")
    previous_end = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield RawRow(previous_end + 1, kind, None, ("ligne", f"ligne illisible : {exc}"))
            previous_end = reader.line_num
            continue
        start = previous_end + 1
        previous_end = reader.line_num
        while lines.too_long:
            yield RawRow(
                lines.too_long.pop(0), kind, None, ("ligne", f"ligne trop longue (plus de {MAX_LINE_CHARS} caractères)")
            )
        if not values or all(not v.strip() for v in values):
            continue  # blank lines carry nothing
        if len(values) != len(columns):
            reason = "colonnes manquantes (ligne tronquée ?)" if len(values) < len(columns) else "colonnes en trop"
            yield RawRow(start, kind, None, ("ligne", f"{reason} : {len(values)} valeurs pour {len(columns)} colonnes"))
            continue
        yield RawRow(
            start, kind, {c: v for c, v in zip(columns, values, strict=True) if v.strip() or c in REQUIRED[kind]}
        )


def read_jsonl(stream: IO[bytes]) -> Iterator[RawRow]:
    lines = _Lines(_text(stream, "utf-8-sig"))
    for line in lines:
        while lines.too_long:
            yield RawRow(
                lines.too_long.pop(0), None, None, ("ligne", f"ligne trop longue (plus de {MAX_LINE_CHARS} caractères)")
            )
        if not line.strip():
            continue
        try:
            data = json.loads(line, parse_float=Decimal)
        except ValueError as exc:
            yield RawRow(lines.line_no, None, None, ("ligne", f"JSON invalide : {str(exc)[:80]}"))
            continue
        if not isinstance(data, dict):
            yield RawRow(lines.line_no, None, None, ("ligne", "un objet JSON est attendu sur chaque ligne"))
            continue
        kind = data.pop("kind", None)
        if kind not in KINDS:
            yield RawRow(lines.line_no, None, None, ("kind", f"type inconnu : {str(kind)[:40]!r}"))
            continue
        yield RawRow(lines.line_no, kind, data)


def read_rows(file_name: str, open_stream: Opener) -> tuple[str, str, Iterator[RawRow]]:
    """(format, encoding, rows) of a file; raises FileRejected for what dooms the whole file."""
    fmt = file_format(file_name)
    if fmt == "jsonl":
        try:
            detect = detect_encoding(open_stream)
        except FileRejected:
            raise FileRejected("encodage non reconnu : un fichier JSON Lines doit être en UTF-8") from None
        if detect != "utf-8-sig":
            raise FileRejected("encodage non reconnu : un fichier JSON Lines doit être en UTF-8")
        return fmt, "utf-8", _closing(open_stream, read_jsonl)
    kind = csv_kind(file_name)
    encoding = detect_encoding(open_stream)
    rows = _closing(open_stream, lambda s: read_csv(s, encoding, kind))
    return fmt, "utf-8" if encoding == "utf-8-sig" else "windows-1252", rows


def _closing(open_stream: Opener, parse: Callable[[IO[bytes]], Iterator[RawRow]]) -> Iterator[RawRow]:
    stream = open_stream()
    try:
        yield from parse(stream)
    finally:
        stream.close()
