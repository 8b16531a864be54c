"""The DynamoDB client (dal.wire), item (de)serialisation, paginated queries, batches with retries, transactions."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from espace_famille.config import settings
from espace_famille.dal import wire
from espace_famille.dal.attributes import deserialize, serialize
from espace_famille.dal.keys import Key
from espace_famille.dal.wire import AwsError

Item = dict[str, Any]

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
TRANSACT_MAX = 100
PARALLEL_MAX = 16  # concurrent calls of one request (a family's régies)


# Stateless (the connections are pooled in wire), so one per process is all it takes.
_CLIENT = wire.Client("dynamodb")


def client() -> Any:
    return _CLIENT


def table() -> str:
    return settings().table_name


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_plain(v) for v in value]
    return value


def to_ddb(item: Item) -> dict[str, Any]:
    return {k: serialize(v) for k, v in item.items() if v is not None}


def from_ddb(raw: dict[str, Any]) -> Item:
    return {k: _plain(deserialize(v)) for k, v in raw.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(s="open") -> {":s": {"S": "open"}}."""
    return {f":{k}": serialize(v) for k, v in named.items()}


def is_condition_failure(exc: AwsError) -> bool:
    return exc.code == "ConditionalCheckFailedException"


def cancellation_reasons(exc: AwsError) -> list[str]:
    """The per-item codes of a cancelled transaction ("None", "ConditionalCheckFailed", …); [] for any other error."""
    return exc.cancellation_reasons


def get(key: Key, consistent: bool = False) -> Item | None:
    raw = client().get_item(TableName=table(), Key=to_ddb(key), ConsistentRead=consistent).get("Item")
    return from_ddb(raw) if raw else None


def query(
    key_condition: str,
    expression_values: dict[str, Any],
    *,
    index: str | None = None,
    forward: bool = True,
    limit: int | None = None,
    start_key: dict[str, Any] | None = None,
    filter_expression: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
) -> tuple[list[Item], dict[str, Any] | None]:
    """One Query call: items and the LastEvaluatedKey to continue from."""
    args: dict[str, Any] = {
        "TableName": table(),
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeValues": expression_values,
        "ScanIndexForward": forward,
    }
    if index:
        args["IndexName"] = index
    else:
        args["ConsistentRead"] = consistent
    if limit:
        args["Limit"] = limit
    if start_key:
        args["ExclusiveStartKey"] = start_key
    if filter_expression:
        args["FilterExpression"] = filter_expression
    if names:
        args["ExpressionAttributeNames"] = names
    out = client().query(**args)
    return [from_ddb(i) for i in out.get("Items", [])], out.get("LastEvaluatedKey")


def query_all(key_condition: str, expression_values: dict[str, Any], **kwargs: Any) -> Iterator[Item]:
    """Every item of a Query, page after page (for bounded partitions only)."""
    start: dict[str, Any] | None = None
    while True:
        items, start = query(key_condition, expression_values, start_key=start, **kwargs)
        yield from items
        if not start:
            return


def _backoff(attempt: int) -> None:
    # Full jitter: spreads the retries of concurrent writers over the throttled partition.
    time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))  # noqa: S311 - not cryptographic


def batch_get(keys: Sequence[Key], consistent: bool = False, max_attempts: int = 8) -> list[Item]:
    """BatchGetItem over any number of keys, retrying unprocessed keys with backoff; order not kept."""
    out: list[Item] = []
    name = table()
    for i in range(0, len(keys), BATCH_GET_MAX):
        pending: dict[str, Any] = {
            name: {"Keys": [to_ddb(k) for k in keys[i : i + BATCH_GET_MAX]], "ConsistentRead": consistent}
        }
        attempt = 0
        while pending:
            resp = client().batch_get_item(RequestItems=pending)
            out.extend(from_ddb(r) for r in resp.get("Responses", {}).get(name, []))
            pending = resp.get("UnprocessedKeys") or {}
            if pending:
                attempt += 1
                if attempt >= max_attempts:
                    raise RuntimeError("DynamoDB left keys unprocessed after retries")
                _backoff(attempt)
    return out


def batch_write(puts: Sequence[Item] = (), deletes: Sequence[Key] = (), max_attempts: int = 10) -> int:
    """BatchWriteItem over any number of items, retrying unprocessed ones with backoff; returns calls made."""
    requests = [{"PutRequest": {"Item": to_ddb(p)}} for p in puts]
    requests += [{"DeleteRequest": {"Key": to_ddb(k)}} for k in deletes]
    name = table()
    calls = 0
    for i in range(0, len(requests), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {name: requests[i : i + BATCH_WRITE_MAX]}
        attempt = 0
        while pending:
            calls += 1
            resp = client().batch_write_item(RequestItems=pending)
            pending = resp.get("UnprocessedItems") or {}
            if pending:
                attempt += 1
                if attempt >= max_attempts:
                    raise RuntimeError("DynamoDB left items unprocessed after retries")
                _backoff(attempt)
    return calls


def transact(items: Sequence[dict[str, Any]]) -> None:
    """One TransactWriteItems: all of `items` change together or none does."""
    if len(items) > TRANSACT_MAX:
        raise ValueError(f"a transaction holds at most {TRANSACT_MAX} items")
    client().transact_write_items(TransactItems=list(items))


def in_parallel(call: Callable[[Any], Any], args: Iterable[Any]) -> list[Any]:
    """`call` on each argument, concurrently, results in order: independent reads in one round trip.

    Each call takes its own kept-alive connection from dal.wire's pool and gives it back.
    """
    todo = list(args)
    if len(todo) <= 1:
        return [call(a) for a in todo]
    with ThreadPoolExecutor(max_workers=min(len(todo), PARALLEL_MAX)) as pool:
        return list(pool.map(call, todo))
