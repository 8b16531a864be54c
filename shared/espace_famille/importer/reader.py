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
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from espace_famille.importer.rows import COLUMNS, KINDS, MULTILINE_KINDS, REQUIRED

MAX_LINE_CHARS = 100_000
# A record of a kind whose text may span lines (a news body) is cut at this size, in characters.
MAX_RECORD_CHARS = 131_072
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

_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

TOO_LONG = f"ligne trop longue (plus de {MAX_LINE_CHARS} caractères) : ignorée"


class FileRejected(Exception):
    """The whole file is refused (nothing imported): unreadable encoding, wrong header, unknown kind…"""


@dataclass(frozen=True)
class RawRow:
    line: int  # physical line where the row starts (the CSV header is line 1)
    kind: str | None
    fields: dict[str, Any] | None  # None when the row could not even be split into fields
    error: tuple[str, str] | None = None  # (field, reason) for rows refused while reading


def detect_encoding(open_stream: Opener) -> str:
    """'utf-8-sig' or 'cp1252' (French Excel's "CSV (séparateur : point-virgule)"), reading the whole file.

    A file that holds valid multi-byte UTF-8 sequences was written as UTF-8: if it is not valid UTF-8 as a
    whole (one stray byte pasted in), reading it as Windows-1252 would garble every accent ("ZoÃ©"), so it
    is refused, naming the line of the first bad byte. Only a file with no multi-byte UTF-8 sequence falls
    back to Windows-1252.
    """
    try:
        _check_utf8(open_stream)
        return "utf-8-sig"
    except _NotUtf8:
        pass
    decoder = codecs.getincrementaldecoder("cp1252")()
    try:
        with open_stream() as stream:
            while chunk := stream.read(_CHUNK):
                if b"\x00" in chunk:
                    raise FileRejected("encodage non reconnu : le fichier contient des octets nuls (UTF-16 ?)")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileRejected("encodage non reconnu : le fichier n’est ni en UTF-8 ni en Windows-1252") from None
    return "cp1252"


class _NotUtf8(Exception):
    pass


def _check_utf8(open_stream: Opener) -> None:
    """Returns if the file is UTF-8; raises _NotUtf8 if it holds no UTF-8 text, FileRejected if it is mixed."""
    # surrogateescape turns each byte that is not UTF-8 into one of U+DC80–U+DCFF: one pass finds both the
    # first bad byte and whether any valid multi-byte sequence exists, before or after it.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    breaks = 0  # line breaks (CRLF, LF or CR) before the current chunk
    after_cr = False  # the previous chunk ended with CR (its LF may open this one)
    multibyte = False
    bad: tuple[int, int] | None = None  # (line, byte) of the first byte that is not UTF-8
    first = True
    with open_stream() as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if first:
                for bom, name in _UNICODE_BOMS:
                    if chunk.startswith(bom):
                        raise FileRejected(
                            f"encodage non reconnu : le fichier est en {name} ; l’enregistrer en UTF-8 ou en Windows-1252"
                        )
                first = False
            if b"\x00" in chunk:
                # No text file holds NUL bytes; UTF-16 without its BOM does, on every other byte.
                raise FileRejected("encodage non reconnu : le fichier contient des octets nuls (UTF-16 ?)")
            text = decoder.decode(chunk, final=not chunk)
            if bad is None and (escaped := _ESCAPED.search(text)):
                bad = (breaks + _line_breaks(text[: escaped.start()], after_cr) + 1, ord(escaped.group()) - 0xDC00)
            multibyte = multibyte or bool(_MULTIBYTE.search(text))
            if bad is not None and multibyte:
                line, byte = bad
                raise FileRejected(
                    f"encodage mixte : le fichier contient du texte en UTF-8, mais l’octet 0x{byte:02X} de la "
                    f"ligne {line} n’est pas de l’UTF-8 ; l’enregistrer entièrement en UTF-8"
                )
            if not chunk:
                break
            breaks += _line_breaks(text, after_cr)
            after_cr = text.endswith("\r")
    if bad is not None:
        raise _NotUtf8()


_ESCAPED = re.compile("[\udc80-\udcff]")
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")


def _line_breaks(text: str, after_cr: bool) -> int:
    """Line breaks in text, as the reader counts lines (CRLF is one; an LF right after a CR already counted)."""
    count = text.count("\n") + text.count("\r") - text.count("\r\n")
    return count - 1 if after_cr and text.startswith("\n") else count


@dataclass(frozen=True)
class _Line:
    number: int
    text: str  # "" for a line that was too long (its text is not kept)
    too_long: bool
    terminated: bool  # ends with a line break (a last line without one may have been cut short)


def _lines(text_stream: IO[str]) -> Iterator[_Line]:
    """Physical lines of a text stream; a line longer than MAX_LINE_CHARS is skipped without being kept."""
    number = 0
    while True:
        line = text_stream.readline(MAX_LINE_CHARS)
        if not line:
            return
        number += 1
        terminated = line.endswith(("\n", "\r"))
        if len(line) >= MAX_LINE_CHARS and not terminated:
            while True:
                rest = text_stream.readline(MAX_LINE_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield _Line(number, "", True, bool(rest))
            continue
        yield _Line(number, line, False, terminated)


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


def column_name(header_cell: str) -> str:
    """How a header cell names its column: case, accents and spaces do not matter ("Référence" = reference)."""
    text = unicodedata.normalize("NFKD", header_cell.strip().lstrip("\ufeff"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[\s-]+", "_", text)


_CSV_ERRORS = (
    ("expected after", "guillemet mal placé : un champ entre guillemets doit être suivi de « ; »"),
    ("unexpected end of data", "guillemet non fermé"),
    ("field larger than field limit", f"champ trop long (plus de {MAX_RECORD_CHARS} caractères)"),
)


def _csv_reason(exc: csv.Error) -> str:
    message = str(exc)
    for fragment, reason in _CSV_ERRORS:
        if fragment in message:
            return reason
    return "ligne illisible"


def _split(text: str) -> list[str]:
    """The fields of one physical line (a quote left open is an error of this line only)."""
    return next(csv.reader((text,), delimiter=";", quotechar='"', strict=True), [])


def _header(lines: Iterator[_Line], kind: str) -> list[str]:
    first = next(lines, None)
    if first is None:
        raise FileRejected("fichier vide")
    if first.too_long:
        raise FileRejected("en-tête trop long")
    if not first.text.strip():
        rest = next((line for line in lines if line.too_long or line.text.strip()), None)
        raise FileRejected("fichier vide" if rest is None else "en-tête manquant : la première ligne est vide")
    try:
        cells = _split(first.text)
    except csv.Error as exc:
        raise FileRejected(f"en-tête illisible : {_csv_reason(exc)}") from exc
    if len(cells) == 1 and ("," in cells[0] or "\t" in cells[0]):
        raise FileRejected("séparateur incorrect : les colonnes doivent être séparées par « ; »")
    columns = [column_name(c) for c in cells]
    if "" in columns:
        raise FileRejected(f"colonne sans nom dans l’en-tête (colonne {columns.index('') + 1})")
    unknown = [c for c in columns if c not in COLUMNS[kind]]
    if unknown:
        raise FileRejected(
            f"colonnes inconnues pour le type {kind} : {', '.join(unknown)[:200]} "
            f"(colonnes possibles : {', '.join(COLUMNS[kind])})"
        )
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        raise FileRejected(f"colonnes manquantes pour le type {kind} : {', '.join(missing)}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise FileRejected(f"colonne en double dans l’en-tête : {', '.join(duplicated)}")
    return columns


@dataclass(frozen=True)
class _Record:
    start: int  # first physical line
    end: int  # last physical line
    values: list[str] | None  # None: the line(s) could not be split into fields
    problem: str = ""  # why, when values is None
    terminated: bool = True  # False for a last line that has no line break (it may have been cut short)


def _records(lines: Iterator[_Line], multiline: bool) -> Iterator[_Record]:
    """The records after the header.

    Most kinds are one record per physical line, so that a quote left open spoils that line only. A kind
    whose text may hold line breaks (a news body) lets a quoted field run over several lines, up to
    MAX_RECORD_CHARS.
    """
    for line in lines:
        if line.too_long:
            yield _Record(line.number, line.number, None, TOO_LONG)
            continue
        if not line.text.strip():
            continue
        try:
            yield _Record(line.number, line.number, _split(line.text), terminated=line.terminated)
        except csv.Error as exc:
            if multiline and "unexpected end of data" in str(exc):
                yield _continue_quoted(line, lines)
            else:
                cut = "" if line.terminated else " (dernière ligne tronquée ?)"
                yield _Record(line.number, line.number, None, _csv_reason(exc) + cut)


def _continue_quoted(first: _Line, lines: Iterator[_Line]) -> _Record:
    """Joins the lines of a record whose quoted field holds line breaks."""
    text = first.text
    for line in lines:
        if line.too_long:
            return _Record(first.number, line.number, None, TOO_LONG)
        text += line.text
        if len(text) > MAX_RECORD_CHARS:
            return _Record(
                first.number,
                line.number,
                None,
                f"champ trop long (plus de {MAX_RECORD_CHARS} caractères) ou guillemet non fermé",
            )
        try:
            return _Record(first.number, line.number, _split(text), terminated=line.terminated)
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return _Record(first.number, line.number, None, _csv_reason(exc))
    return _Record(
        first.number, first.number, None, "guillemet non fermé en fin de fichier (dernière ligne tronquée ?)"
    )


def read_csv(stream: IO[bytes], encoding: str, kind: str) -> Iterator[RawRow]:
    lines = _lines(_text(stream, encoding))
    columns = _header(lines, kind)
    required = set(REQUIRED[kind])
    for record in _records(lines, kind in MULTILINE_KINDS):
        where = f" (lignes {record.start} à {record.end})" if record.end != record.start else ""
        values = record.values
        if values is None:
            yield RawRow(record.start, kind, None, ("ligne", f"{record.problem}{where}"))
            continue
        if len(values) != len(columns):
            if not record.terminated and len(values) < len(columns):
                reason = f"dernière ligne tronquée : {len(values)} valeurs pour {len(columns)} colonnes"
            elif len(values) == 1 and ("," in values[0] or "\t" in values[0]):
                reason = "séparateur incorrect : les valeurs doivent être séparées par « ; »"
            else:
                reason = f"{len(values)} valeurs pour {len(columns)} colonnes{where}"
            yield RawRow(record.start, kind, None, ("ligne", reason))
            continue
        yield RawRow(
            record.start, kind, {c: v for c, v in zip(columns, values, strict=True) if v.strip() or c in required}
        )


class _NotANumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"{name} n’est pas un nombre JSON")


def read_jsonl(stream: IO[bytes]) -> Iterator[RawRow]:
    any_line = False
    for line in _lines(_text(stream, "utf-8-sig")):
        if line.too_long:
            any_line = True
            yield RawRow(line.number, None, None, ("ligne", TOO_LONG))
            continue
        if not line.text.strip():
            continue
        any_line = True
        try:
            data = json.loads(line.text, parse_float=Decimal, parse_constant=_no_constant)
        except RecursionError:
            yield RawRow(line.number, None, None, ("ligne", "JSON invalide : imbrication trop profonde"))
            continue
        except json.JSONDecodeError as exc:
            reason = "ligne tronquée" if not line.terminated else f"erreur en colonne {exc.colno}"
            yield RawRow(line.number, None, None, ("ligne", f"JSON invalide ({reason})"))
            continue
        except ValueError as exc:  # NaN or Infinity, or an integer of thousands of digits
            reason = str(exc) if isinstance(exc, _NotANumber) else "nombre trop long"
            yield RawRow(line.number, None, None, ("ligne", f"JSON invalide ({reason})"))
            continue
        if not isinstance(data, dict):
            yield RawRow(line.number, None, None, ("ligne", "un objet JSON est attendu sur chaque ligne"))
            continue
        kind = data.pop("kind", None)
        if not isinstance(kind, str) or kind not in KINDS:
            shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
            reason = "champ kind manquant" if kind is None else f"type inconnu : « {shown} »"
            yield RawRow(line.number, None, None, ("kind", f"{reason} (attendu : {', '.join(KINDS)})"))
            continue
        yield RawRow(line.number, kind, data)
    if not any_line:
        raise FileRejected("fichier vide")


def read_rows(file_name: str, open_stream: Opener) -> tuple[str, str, Iterator[RawRow]]:
    """(format, encoding, rows) of a file; raises FileRejected for what dooms the whole file.

    The rows iterator itself may still raise FileRejected: for a wrong header (CSV), or an empty file.
    """
    fmt = file_format(file_name)
    if fmt == "jsonl":
        if detect_encoding(open_stream) != "utf-8-sig":
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
