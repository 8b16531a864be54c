"""DynamoDB attribute values to and from Python values, as boto3's TypeSerializer and TypeDeserializer do.

Importing `boto3.dynamodb.types` imports the whole of boto3 (tens of milliseconds on every cold start), for
two small functions. These are the same rules: integers and Decimals as numbers within DynamoDB's 38
digits (floats refused, as boto3 refuses them), sets by the type of their members, bytes as binary.
tests/unit/test_attributes.py checks them against boto3's on generated values.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's numbers: 38 significant digits, exponents -130..125; anything that would round is refused.
NUMBER_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _number(value: Any) -> str:
    text = str(NUMBER_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return text


def _binary(value: Any) -> bytes:
    return bytes(value)


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value: {"S": "x"}, {"N": "1"}, {"M": {...}}…"""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": _binary(value)}
    if isinstance(value, Set):
        # Like boto3: the first kind every member matches (an empty set is a number set).
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, bytes | bytearray) for v in value):
            return {"BS": [_binary(v) for v in value]}
    elif isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    elif isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def _as_bytes(value: Any) -> bytes:
    # On the wire binary travels in base64; a value serialised here and not sent is bytes already.
    return bytes(value) if isinstance(value, bytes | bytearray) else b64decode(value)


def deserialize(value: dict[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value: numbers as Decimal, sets as sets, binary as bytes."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return raw
    if kind == "N":
        return NUMBER_CONTEXT.create_decimal(raw)
    if kind == "M":
        return {k: deserialize(v) for k, v in raw.items()}
    if kind == "L":
        return [deserialize(v) for v in raw]
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {NUMBER_CONTEXT.create_decimal(v) for v in raw}
    if kind == "B":
        return _as_bytes(raw)
    if kind == "BS":
        return {_as_bytes(v) for v in raw}
    raise TypeError(f"Dynamodb type {kind} is not supported")
