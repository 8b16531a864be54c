"""The local stack under concurrency: parallel requests see DynamoDB's behaviour, never moto's thread faults."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from tests.integration.test_invoices import _cid, claim, import_rows, invoice_row, setup_collectivite
from tests.support import Client, calls, reset_calls, signed_up

pytestmark = pytest.mark.integration

PARALLEL = 40


def test_parallel_transactions_through_the_gateway_all_succeed(stack):
    """Each claim is one TransactWriteItems (check the invoice, put the link), all at once."""
    cid = _cid()
    setup_collectivite(stack, cid)
    rows = [invoice_row(cid, f"{cid}-P{n}", debtor=f"D{n}") for n in range(PARALLEL)]
    import_rows(stack, rows)
    parent = signed_up(stack.url)
    reset_calls(parent)

    def one(row: dict) -> tuple[int, str]:
        with Client(stack.url, ip=parent.ip) as same_browser:
            same_browser.jar.update(parent.jar)
            response = claim(same_browser, cid, row)
            return response.status_code, response.text[:200]

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(one, rows))
    assert [status for status, _ in answers] == [201] * PARALLEL, [a for a in answers if a[0] != 201][:3]
    assert calls(parent)["TransactWriteItems"] == PARALLEL
    assert len(parent.get("/api/me").json()["regies"]) == PARALLEL


def test_moto_serves_parallel_transactions_and_queries_without_a_fault(table):
    """Straight to the local AWS server, botocore's retries off: every moto fault would show as an error."""
    ddb = boto3.client(
        "dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=Config(retries={"max_attempts": 1})
    )

    def one(n: int) -> str | None:
        pk = f"RACE#{uuid.uuid4().hex}"
        item = {"PK": {"S": pk}, "SK": {"S": "A"}}
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Put": {"TableName": table, "Item": {**item, "SK": {"S": "B"}}}},
                ]
            )
            found = ddb.query(
                TableName=table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": pk}}
            )
        except Exception as exc:
            return repr(exc)[:200]
        return None if found["Count"] == 2 else f"{found['Count']} items"

    with ThreadPoolExecutor(PARALLEL) as pool:
        faults = [f for f in pool.map(one, range(10 * PARALLEL)) if f]
    assert faults == []


def test_a_cancelled_transaction_leaves_nothing_behind(table):
    """moto backs up only the items a transaction names (aws_server): a cancelled one still rolls back."""
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pk = f"ROLLBACK#{uuid.uuid4().hex}"

    def key(sk: str) -> dict:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    before = [{**key("CHECK"), "n": {"N": "1"}}, key("GONE"), {**key("OLD"), "n": {"N": "1"}}]
    for item in before:
        ddb.put_item(TableName=table, Item=item)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": key("NEW")}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("OLD"),
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": key("GONE")}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("CHECK"),
                        "ConditionExpression": "n = :nine",
                        "ExpressionAttributeValues": {":nine": {"N": "9"}},
                    }
                },
            ]
        )
    found = ddb.query(TableName=table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": pk}})[
        "Items"
    ]
    assert found == before


def test_a_retried_transaction_answers_its_first_success_as_dynamodb_does(table):
    """botocore resends a transaction's ClientRequestToken when it retries: the retry must not be re-run."""
    ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pk = {"S": f"RETRY#{uuid.uuid4().hex}"}
    items = [
        {
            "Put": {
                "TableName": table,
                "Item": {"PK": pk, "SK": {"S": "A"}},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    ]
    token = uuid.uuid4().hex
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    # The same call again (a retry after a lost answer): success, nothing re-run.
    ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    # Another call with the same items is another transaction: its condition now fails.
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=items, ClientRequestToken=uuid.uuid4().hex)
