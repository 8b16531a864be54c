"""A record's stored form, declared once: its keys, and its fields as attributes, both ways.

Each record (a frozen dataclass) has one RecordMapping: writing and reading its item both go through it, so
an attribute's name and type are stated by the record's field, in one place. Attribute names are the field
names, which is what items already stored carry.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from functools import cached_property
from typing import Any, Generic, TypeVar

Item = dict[str, Any]
R = TypeVar("R")

# Attributes that place an item in the table or its indexes: never part of what a record holds.
KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")


def attributes(item: Item) -> Item:
    """An item without its key attributes: what it says, not where it is."""
    return {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}


def _no_index(record: Any) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class RecordMapping(Generic[R]):
    """How one record is stored.

    - `key`: its primary key (a builder of dal/keys.py); `indexes`: its GSI keys, if any;
    - `kind`: the `kind` attribute, for records that share a partition with others (an invoice and its lines);
    - `derived`: properties of the record stored too, for queries and conditions (never read back);
    - `write` / `read`: how a field whose stored form differs from its value is converted (`read` gets the
      whole item, so it may fall back on another attribute); the other fields follow their type;
    - `absent`: the value of a field without a default when an older item lacks its attribute.
    """

    record: type[R]
    key: Callable[[R], dict[str, str]]
    indexes: Callable[[R], dict[str, str]] = _no_index
    kind: str | None = None
    derived: tuple[str, ...] = ()
    write: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    read: Mapping[str, Callable[[Item], Any]] = field(default_factory=dict)
    absent: Mapping[str, Any] = field(default_factory=dict)

    def to_item(self, record: R) -> Item:
        """The stored form of a record, keys included; None values are not stored."""
        item: Item = {**self.key(record), **self.indexes(record)}
        if self.kind is not None:
            item["kind"] = self.kind
        for name in self.derived:
            item[name] = getattr(record, name)
        for name, _ in self._fields:
            value = getattr(record, name)
            item[name] = self.write[name](value) if name in self.write else _stored(value)
        return {k: v for k, v in item.items() if v is not None}

    def from_item(self, item: Item) -> R:
        """The record an item holds; a missing attribute takes the field's default (KeyError if it has none)."""
        values: dict[str, Any] = {}
        for name, convert in self._fields:
            if name in self.read:
                values[name] = self.read[name](item)
            elif name in item and item[name] is not None:
                values[name] = convert(item[name])
            elif name in self.absent:
                values[name] = self.absent[name]
            elif name not in self._defaulted:
                raise KeyError(name)
        return self.record(**values)

    def attributes(self, record: R) -> Item:
        """The record's stored attributes without its keys (to compare, or to show)."""
        return attributes(self.to_item(record))

    @cached_property
    def _fields(self) -> list[tuple[str, Callable[[Any], Any]]]:
        hints = typing.get_type_hints(self.record)
        return [(f.name, _reader(hints[f.name])) for f in fields(self.record)]  # type: ignore[arg-type]

    @cached_property
    def _defaulted(self) -> frozenset[str]:
        return frozenset(
            f.name
            for f in fields(self.record)  # type: ignore[arg-type]
            if f.default is not MISSING or f.default_factory is not MISSING
        )


def _stored(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _reader(hint: Any) -> Callable[[Any], Any]:
    """How a stored value becomes a field of this type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        return _reader(present[0]) if len(present) == 1 else _same
    if origin is dict:
        return lambda v: {str(k): str(x) for k, x in v.items()}
    if hint is bool:
        return bool
    if hint is int:
        return int
    if hint is Decimal:
        return lambda v: Decimal(str(v))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    return _same


def _same(value: Any) -> Any:
    return value
