"""Builders of import files for the importer's tests: CSV the French-office way, JSON Lines."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable
from typing import Any

INVOICE_COLUMNS = (
    "collectivite_id",
    "regie_id",
    "reference",
    "key",
    "debtor_id",
    "debtor_name",
    "issued_on",
    "due_on",
    "amount",
    "status",
    "paid_at",
)
LINE_COLUMNS = ("collectivite_id", "reference", "line_no", "label", "quantity", "unit_price", "amount")


def unique_id(prefix: str = "C") -> str:
    """A collectivité id of its own for each test: tests share one table and never see each other's rows."""
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


def invoice(cid: str, reference: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "collectivite_id": cid,
        "regie_id": "CANTINE",
        "reference": reference,
        "key": f"K{reference.replace('-', '')[-8:]}",
        "debtor_id": "LACROIX-J",
        "debtor_name": "M LACROIX Jerome",
        "issued_on": "01/08/2017",
        "due_on": "31/08/2030",
        "amount": "23,45",
        "status": "open",
        "paid_at": "",
    }
    row.update(fields)
    return row


def csv_text(rows: Iterable[dict[str, Any]], columns: Iterable[str] = INVOICE_COLUMNS, newline: str = "\r\n") -> str:
    """Rows as French Excel writes them: `;`, CRLF, values as given (quoted only when they must be)."""
    cols = list(columns)
    out = [";".join(cols)]
    for row in rows:
        out.append(";".join(_cell(row.get(c, "")) for c in cols))
    return newline.join(out) + newline


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if any(ch in text for ch in ';"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def jsonl_text(*objects: dict[str, Any]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def parents(cid: str, regies: Iterable[str] = ("CANTINE", "GARDERIE")) -> str:
    """A JSON Lines file creating a collectivité and its régies (PayFiP)."""
    rows: list[dict[str, Any]] = [{"kind": "collectivite", "collectivite_id": cid, "name": f"Ville {cid}"}]
    for n, rid in enumerate(regies, 1):
        rows.append(
            {
                "kind": "regie",
                "collectivite_id": cid,
                "regie_id": rid,
                "name": rid.capitalize(),
                "payment_backend": "payfip",
                "payment_options": {"numcli": f"{n:06d}", "saisie": "T"},
            }
        )
    return jsonl_text(*rows)


def opener(data: bytes | str) -> Any:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return lambda: io.BytesIO(raw)
