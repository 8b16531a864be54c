"""How identifiers, references and amounts typed by people or exported by software are read (French forms)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from espace_famille.clock import PARIS, iso
from espace_famille.model import MAX_AMOUNT_CENTS

# Control characters (C0 but tab/newline/CR, DEL, C1): never legitimate in a name, an e-mail or a reference.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
# Bidirectional formatting characters (embeddings, overrides, isolates, marks): they reorder what a reader
# sees ("Trojan Source", a U+202E that shows "gpj.exe" as "exe.jpg") and no name or notice needs them.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSEEN = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
REFERENCE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,39}$")
KEY_RE = re.compile(r"^[A-Z0-9_-]{1,64}$")
DEBTOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

MAX_EUROS = Decimal(MAX_AMOUNT_CENTS) / 100
CENT = Decimal("0.01")


def has_control(text: str, allow_newlines: bool = False) -> bool:
    return bool((_CONTROL if allow_newlines else _CONTROL_OR_NEWLINE).search(text))


def visible(text: str, allow_newlines: bool = False) -> str:
    """Text as software wrote it, less control and bidirectional formatting characters.

    For names and notices imported from billing software: "Mme X (née Y)" stays as written, but nothing
    invisible that could reorder or hide what a parent or an agent reads gets through. A tab or line break
    in one-line text becomes a space; with `allow_newlines` (a notice's body), they stay.
    """
    out = _UNSEEN.sub("", text)
    return out if allow_newlines else _LINE_BREAKS.sub(" ", out)


def compact_upper(text: str) -> str:
    """Upper case without any space: how a collectivité id, a reference or a key copied from paper is read.

    Parents copy these by hand from the bottom of a paper invoice; case and stray spaces carry no meaning
    in them, so "2017-wi-00 -9710" is the reference 2017-WI-00-9710.
    """
    return _SPACES.sub("", text).upper()


def parse_cents(value: object, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    """Euros as a person or a spreadsheet writes them ("41,85", "1 234,50 €", 41.85) -> integer cents."""
    if isinstance(value, bool):
        raise ValueError("montant attendu")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float | Decimal):
        amount = Decimal(str(value))
    elif isinstance(value, str):
        text = _SPACES.sub("", value).replace("€", "").replace("EUR", "")
        if not re.fullmatch(r"[-+]?\d+([.,]\d+)?", text, re.ASCII):
            raise ValueError(f"montant illisible : « {value[:40]} »")
        amount = Decimal(text.replace(",", "."))
    else:
        raise ValueError("montant attendu")
    if not amount.is_finite():
        raise ValueError("montant illisible")
    # Bounds first, without arithmetic (which would overflow): a JSON number such as 1E+999999999 must
    # never become an int.
    if amount.copy_abs() > MAX_EUROS:
        raise ValueError("le montant dépasse 100 000 €")
    cents_exact = amount.quantize(CENT)
    if cents_exact != amount:
        raise ValueError("montant avec plus de deux décimales")
    cents = int(cents_exact.scaleb(2))
    if cents < 0 and not allow_negative:
        raise ValueError("le montant doit être positif")
    if cents == 0 and not allow_zero:
        raise ValueError("le montant doit être supérieur à zéro")
    return cents


def parse_date(value: object) -> str:
    """01/08/2017 or 2017-08-01 -> 2017-08-01; impossible dates are refused."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str):
        text = value.strip()
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text, re.ASCII)
        try:
            if m:
                day = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, re.ASCII):
                day = date.fromisoformat(text)
            else:
                raise ValueError(f"date illisible : « {text[:40]} » (attendu JJ/MM/AAAA ou AAAA-MM-JJ)")
        except ValueError as exc:
            if "illisible" in str(exc):
                raise
            raise ValueError(f"date impossible : « {text[:40]} »") from exc
    else:
        raise ValueError("date attendue")
    if not 2000 <= day.year <= 2100:
        raise ValueError(f"date hors limites : {day.isoformat()}")
    return day.isoformat()


def parse_timestamp(value: object) -> str:
    """'11/07/2017 16:28:09' (Paris time; seconds, or the whole time, optional) or ISO-8601 -> ISO-8601 UTC."""
    if not isinstance(value, str):
        raise ValueError("date et heure attendues")
    text = value.strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", text, re.ASCII)
    try:
        if m:
            day, month, year, hour, minute, second = (int(g or 0) for g in m.groups())
            moment = datetime(year, month, day, hour, minute, second, tzinfo=PARIS)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=PARIS)
    except ValueError as exc:
        raise ValueError(f"date et heure illisibles : « {text[:40]} » (attendu JJ/MM/AAAA HH:MM:SS)") from exc
    if not 2000 <= moment.year <= 2100:
        raise ValueError("date hors limites")
    return iso(moment)
