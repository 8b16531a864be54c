"""The import as operations use it in AWS: an object put under imports/ in the local bucket, a report under reports/."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from espace_famille.model import invoice_id
from tests.import_support import csv_text, invoice, parents, unique_id

pytestmark = pytest.mark.integration


def bucket_of(stack: Any) -> str:
    return str(stack.info()["buckets"]["ImportsBucket"])


def put(stack: Any, key: str, data: str | bytes) -> None:
    body = data.encode("utf-8") if isinstance(data, str) else data
    stack.aws.client("s3").put_object(Bucket=bucket_of(stack), Key=key, Body=body)


def wait_report(stack: Any, key: str, timeout: float = 90) -> dict[str, Any]:
    s3 = stack.aws.client("s3")
    report_key = "reports/" + key.removeprefix("imports/") + ".json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            return dict(json.loads(s3.get_object(Bucket=bucket_of(stack), Key=report_key)["Body"].read()))
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise AssertionError(f"no report for {key} after {timeout} s") from None
            time.sleep(0.1)


def import_file(stack: Any, key: str, data: str | bytes) -> dict[str, Any]:
    put(stack, key, data)
    return wait_report(stack, key)


def get_invoice(stack: Any, cid: str, reference: str) -> dict[str, Any] | None:
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.info()["tables"]["Table"],
        Key={"PK": {"S": f"INV#{invoice_id(cid, reference)}"}, "SK": {"S": "INV"}},
        ConsistentRead=True,
    )
    return item.get("Item")


def counts(read=0, created=0, updated=0, unchanged=0, rejected=0) -> dict[str, int]:
    return {"read": read, "created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def test_the_demo_dataset_was_loaded_through_the_importer_lines_included(stack):
    s3 = stack.aws.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket_of(stack), Prefix="reports/demo-").get("Contents", [])
    reports = {
        o["Key"].rsplit("/", 1)[1]: json.loads(s3.get_object(Bucket=bucket_of(stack), Key=o["Key"])["Body"].read())
        for o in listed
    }
    assert {name: (r["status"], r["counts"]) for name, r in reports.items()} == {
        "01-jolieville.jsonl.json": ("done", counts(read=5, created=5)),
        "02-factures.csv.json": ("done", counts(read=6, created=6)),
        "03-lignes.csv.json": ("done", counts(read=7, created=7)),
    }
    lines = stack.aws.client("dynamodb").query(
        TableName=stack.info()["tables"]["Table"],
        KeyConditionExpression="PK = :pk AND begins_with(SK, :line)",
        ExpressionAttributeValues={
            ":pk": {"S": f"INV#{invoice_id('JOLIEVILLE', '2017-VS-00-9700')}"},
            ":line": {"S": "LINE#"},
        },
    )["Items"]
    assert [(i["label"]["S"], i["amount_cents"]["N"]) for i in lines] == [
        ("Repas", "4020"),
        ("Majoration repas non réservé", "165"),
    ]


def test_a_file_put_under_imports_is_imported_and_reported_without_its_keys(stack):
    cid = unique_id("S")
    secret = "QWXZ-SECRET-9931"
    assert import_file(stack, f"imports/{cid}/01-parents.jsonl", parents(cid))["counts"] == counts(read=3, created=3)
    rows = [
        invoice(cid, "S3-1", key=secret),
        invoice(cid, "S3-2", key=secret, amount="12,345"),
        invoice(cid, "S3-3", key=secret, status="payée", paid_at="11/07/2017 16:28:09"),
    ]
    key = f"imports/{cid}/02 factures août.csv"  # spaces and accents: S3 sends the key URL-encoded
    report = import_file(stack, key, csv_text(rows).encode("cp1252"))
    assert {k: report[k] for k in ("file", "format", "encoding", "status", "file_error", "counts", "errors")} == {
        "file": key,
        "format": "csv",
        "encoding": "windows-1252",
        "status": "done",
        "file_error": None,
        "counts": counts(read=3, created=2, rejected=1),
        "errors": [{"line": 3, "kind": "invoice", "field": "amount", "reason": "montant avec plus de deux décimales"}],
    }
    paid = get_invoice(stack, cid, "S3-3")
    assert paid is not None and (paid["status"]["S"], paid["paid_by"]["S"]) == ("paid", "external")
    assert get_invoice(stack, cid, "S3-2") is None
    assert secret not in json.dumps(report)
    log = stack.log_path.read_text(encoding="utf-8")
    assert key in log  # the function did log this import…
    assert secret not in log  # …and never the key


def test_the_same_file_put_again_is_reported_unchanged(stack):
    cid = unique_id("S")
    import_file(stack, f"imports/{cid}/parents.jsonl", parents(cid))
    text = csv_text([invoice(cid, f"AGAIN-{n}") for n in range(3)])
    assert import_file(stack, f"imports/{cid}/factures.csv", text)["counts"] == counts(read=3, created=3)
    before = get_invoice(stack, cid, "AGAIN-1")
    assert import_file(stack, f"imports/{cid}/encore/factures.csv", text)["counts"] == counts(read=3, unchanged=3)
    assert get_invoice(stack, cid, "AGAIN-1") == before


def test_a_file_in_several_chunks_costs_batches_only(stack, client):
    cid = unique_id("S")
    import_file(stack, f"imports/{cid}/parents.jsonl", parents(cid))
    debtors = 20
    rows = [invoice(cid, f"BIG-{n:05d}", debtor_id=f"D{n % debtors}") for n in range(1000)]
    client.delete("/__local__/dynamodb-calls")
    report = import_file(stack, f"imports/{cid}/factures.csv", csv_text(rows))
    calls = client.get("/__local__/dynamodb-calls").json()
    assert report["counts"] == counts(read=1000, created=1000)
    # 10 chunks of 100 rows. The régies are looked up once. The first chunk looks up its 100 invoices and
    # the 20 debtors (120 keys: 2 BatchGetItem) and writes them all (5 BatchWriteItem); every other chunk
    # looks up its invoices only (the import remembers the debtors it wrote) and writes them (4 calls).
    # No Scan, no Query, no call per row.
    assert calls == {"BatchGetItem": 1 + 2 + 9 * 1, "BatchWriteItem": 5 + 9 * 4}


def test_an_object_outside_imports_is_not_imported(stack):
    cid = unique_id("S")
    import_file(stack, f"imports/{cid}/parents.jsonl", parents(cid))
    put(stack, f"ailleurs/{cid}/factures.csv", csv_text([invoice(cid, "OUT-1")]))
    # An object put after it, under imports/: once its report is there, the other one was seen too.
    assert import_file(stack, f"imports/{cid}/factures.csv", csv_text([invoice(cid, "IN-1")]))["counts"] == counts(
        read=1, created=1
    )
    s3 = stack.aws.client("s3")
    reports = s3.list_objects_v2(Bucket=bucket_of(stack), Prefix=f"reports/{cid}/").get("Contents", [])
    assert sorted(o["Key"] for o in reports) == [
        f"reports/{cid}/factures.csv.json",
        f"reports/{cid}/parents.jsonl.json",
    ]
    assert get_invoice(stack, cid, "OUT-1") is None


def test_a_changed_open_invoice_is_replaced_through_s3(stack):
    cid = unique_id()
    first = f"imports/{cid}/factures.csv"
    import_file(stack, f"imports/{cid}/parents.jsonl", parents(cid))
    assert import_file(stack, first, csv_text([invoice(cid, f"{cid}-1")]))["counts"] == counts(read=1, created=1)
    again = f"imports/{cid}/encore/factures.csv"
    changed = csv_text([invoice(cid, f"{cid}-1", amount="30,00", debtor_name="Mme LACROIX Julie")])
    assert import_file(stack, again, changed)["counts"] == counts(read=1, updated=1)
    stored = get_invoice(stack, cid, f"{cid}-1")
    assert stored is not None and stored["amount_cents"] == {"N": "3000"}
