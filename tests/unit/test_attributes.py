"""Our attribute (de)serialisation agrees with boto3's TypeSerializer and TypeDeserializer on any value."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from espace_famille.dal import attributes
from espace_famille.dal.table import from_ddb, to_ddb
from espace_famille.dal.wire import _json_default

# Numbers DynamoDB holds: up to 38 significant digits, exponents well inside its range.
numbers = st.one_of(
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: len(d.as_tuple().digits) <= 38 and -120 < d.adjusted() < 120
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(), st.binary())
sets = st.one_of(
    st.frozensets(st.text(), min_size=1),
    st.frozensets(st.integers(-(10**12), 10**12), min_size=1),
    st.frozensets(st.binary(), min_size=1),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def canonical(value: Any) -> Any:
    """Sets become sorted lists and boto3's Binary bytes, so two results compare whatever the set order."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=repr)
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("SS", "NS", "BS"):
            kind, members = next(iter(value.items()))
            return {kind: sorted(members, key=repr)}
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


@given(values)
def test_serialize_is_boto3s(value):
    assert canonical(attributes.serialize(value)) == canonical(TypeSerializer().serialize(value))


@given(values)
def test_deserialize_is_boto3s_and_round_trips(value):
    wire_form = TypeSerializer().serialize(value)
    ours = attributes.deserialize(wire_form)
    assert canonical(ours) == canonical(TypeDeserializer().deserialize(wire_form))
    # Through JSON as DynamoDB answers it: binary comes back in base64 and is decoded.
    answered = json.loads(json.dumps(attributes.serialize(value), default=_json_default))
    assert canonical(attributes.deserialize(answered)) == canonical(ours)


@pytest.mark.parametrize("bad", [1.5, float("nan"), Decimal("NaN"), Decimal("1" * 39), object()])
def test_refuses_what_boto3_refuses(bad):
    with pytest.raises((TypeError, ArithmeticError)):
        TypeSerializer().serialize(bad)
    with pytest.raises((TypeError, ArithmeticError)):
        attributes.serialize(bad)


def test_items_read_back_as_plain_values():
    item = {"PK": "A", "n": 3, "amount": Decimal("12.5"), "tags": {"x"}, "skip": None, "m": {"l": [1, "a"]}}
    raw = to_ddb(item)
    assert "skip" not in raw  # None is not written
    assert from_ddb(json.loads(json.dumps(raw, default=_json_default))) == {
        "PK": "A",
        "n": 3,
        "amount": 12.5,
        "tags": ["x"],
        "m": {"l": [1, "a"]},
    }
