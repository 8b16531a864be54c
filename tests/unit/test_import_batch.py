"""Batch reads and writes of the import: unprocessed items retried with backoff, conditional replacement.

A fake DynamoDB client stands in for AWS: what is tested is how the data access answers DynamoDB's
partial answers, which moto never gives.
"""

from __future__ import annotations

from typing import Any

import pytest

from espace_famille import config
from espace_famille.dal import catalog
from espace_famille.dal import table as table_module
from espace_famille.dal.wire import AwsError
from espace_famille.model import Debtor, Invoice


class FakeDynamoDB:
    """Leaves part of each batch unprocessed for the first `stingy` calls, as a throttled table does."""

    def __init__(self, stingy: int = 2, fail_transactions: bool = False) -> None:
        self.stingy = stingy
        self.fail_transactions = fail_transactions
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.written: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("BatchWriteItem", RequestItems))
        [(name, requests)] = RequestItems.items()
        keep = requests[len(requests) // 2 :] if self.stingy > 0 else []
        self.stingy -= 1
        done = requests[: len(requests) - len(keep)]
        self.written.extend(r["PutRequest"]["Item"] for r in done)
        return {"UnprocessedItems": {name: keep} if keep else {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("BatchGetItem", RequestItems))
        [(name, spec)] = RequestItems.items()
        keys = spec["Keys"]
        keep = keys[len(keys) // 2 :] if self.stingy > 0 else []
        self.stingy -= 1
        answered = keys[: len(keys) - len(keep)]
        unprocessed = {name: {**spec, "Keys": keep}} if keep else {}
        return {"Responses": {name: [dict(k) for k in answered]}, "UnprocessedKeys": unprocessed}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("PutItem", kwargs))
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(("TransactWriteItems", {"TransactItems": TransactItems}))
        if self.fail_transactions:
            raise AwsError("TransactionCanceledException", "cancelled", 400, ["ConditionalCheckFailed", "None"])
        return {}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "t")
    config.settings.cache_clear()
    sleeps: list[float] = []
    monkeypatch.setattr(table_module.time, "sleep", sleeps.append)
    client = FakeDynamoDB()
    monkeypatch.setattr(table_module, "_CLIENT", client)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    yield client
    config.settings.cache_clear()


def items(n: int) -> list[dict[str, Any]]:
    return [{"PK": f"P#{i}", "SK": "S", "n": i} for i in range(n)]


def test_batch_write_retries_unprocessed_items_with_growing_backoff(fake):
    calls = table_module.batch_write(puts=items(60))
    assert sorted(int(i["n"]["N"]) for i in fake.written) == list(range(60))  # every item, once
    sizes = [len(c[1]["t"]) for c in fake.calls]
    assert max(sizes) == 25  # BatchWriteItem's limit
    assert calls == len(fake.calls) == 5  # 3 batches; the first was half processed twice
    # Full jitter under a cap that doubles with each attempt of the same batch.
    first, second = fake.sleeps
    assert 0 <= first <= 0.1 and 0 <= second <= 0.2


def test_batch_write_gives_up_after_its_attempts(fake):
    fake.stingy = 100
    with pytest.raises(RuntimeError, match="unprocessed"):
        table_module.batch_write(puts=items(2), max_attempts=4)
    assert len(fake.calls) == 4
    caps = [min(2.0, 0.05 * 2**a) for a in range(1, 4)]
    assert all(0 <= s <= cap for s, cap in zip(fake.sleeps, caps, strict=True))


def test_batch_get_retries_unprocessed_keys_and_reads_consistently_when_asked(fake):
    keys = [{"PK": f"P#{i}", "SK": "S"} for i in range(150)]
    found = table_module.batch_get(keys, consistent=True)
    assert sorted(i["PK"] for i in found) == sorted(k["PK"] for k in keys)
    assert all(c[1]["t"]["ConsistentRead"] is True for c in fake.calls)
    assert max(len(c[1]["t"]["Keys"]) for c in fake.calls) == 100
    assert len(fake.sleeps) == 2


def _invoice() -> Invoice:
    return Invoice("J", "CANTINE", "R1", "digest", "D1", "Nom", "2017-08-01", "2017-08-31", 2345, "open")


def test_replacing_an_open_invoice_is_conditional(fake):
    assert catalog.replace_open_invoice(_invoice(), "2026-01-01T00:00:00.000000Z") is True
    [(operation, put)] = fake.calls
    assert operation == "PutItem"
    assert put["ConditionExpression"] == "#s = :open AND (attribute_not_exists(lock_until) OR lock_until <= :now)"
    assert put["ExpressionAttributeValues"] == {":open": {"S": "open"}, ":now": {"S": "2026-01-01T00:00:00.000000Z"}}


def test_an_invoice_and_its_debtor_change_in_one_transaction(fake):
    debtor = Debtor("J", "CANTINE", "D1", "Nouveau nom")
    assert catalog.replace_open_invoice(_invoice(), "2026-01-01T00:00:00.000000Z", debtor) is True
    [(operation, request)] = fake.calls
    assert operation == "TransactWriteItems"
    invoice_put, debtor_put = (t["Put"] for t in request["TransactItems"])
    assert "ConditionExpression" in invoice_put and invoice_put["Item"]["PK"] == {"S": f"INV#{_invoice().invoice_id}"}
    assert debtor_put["Item"]["name"] == {"S": "Nouveau nom"}
    fake.fail_transactions = True
    assert catalog.replace_open_invoice(_invoice(), "2026-01-01T00:00:00.000000Z", debtor) is False
