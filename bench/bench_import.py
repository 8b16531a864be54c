"""Import benchmark: 100,000 invoices into a fresh moto server, against a bare BatchWriteItem loop, and peak RSS.

Each measurement runs in a child process of its own, against a moto server of its own that starts empty:
the child reports its wall time and its peak RSS (getrusage of itself), so that the figures of one run
never leak into another. The bare loop writes exactly the items the import writes (invoices and their
debtors, serialised by the same code) with nothing else: no file, no validation, no lookup.

    .venv/bin/python -m bench import            # the whole benchmark
    IMPORT_BENCH_ROWS=20000 .venv/bin/python -m bench import   # a quicker, smaller run
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import Row

ROOT = Path(__file__).resolve().parents[1]
INVOICES_PER_DEBTOR = 5  # in each of two régies: 100,000 invoices name 20,000 debtors
COLLECTIVITE = "BENCHVILLE"
REGIES = ("CANTINE", "GARDERIE")
HEADER = "collectivite_id;regie_id;reference;key;debtor_id;debtor_name;issued_on;due_on;amount;status;paid_at\r\n"


def invoice_rows(n: int) -> Iterator[tuple[str, ...]]:
    """The same n invoice rows every time, as the billing software would export them."""
    debtors_per_regie = max(1, n // (2 * INVOICES_PER_DEBTOR))
    for i in range(n):
        regie = REGIES[i % 2]
        debtor = (i // 2) % debtors_per_regie
        status, paid_at = ("paid", "11/07/2017 16:28:09") if i % 3 == 0 else ("open", "")
        yield (
            COLLECTIVITE,
            regie,
            f"2017-{regie[:2]}-{i:08d}",
            f"K{i:08d}",
            f"D{debtor:06d}",
            f"M DEBITEUR {debtor:06d}",
            f"{1 + i % 28:02d}/{1 + i % 12:02d}/2017",
            "31/12/2030",
            f"{1 + i % 500},{i % 100:02d}",
            status,
            paid_at,
        )


def write_files(directory: Path, n: int) -> tuple[Path, Path]:
    parents = directory / "parents.jsonl"
    lines: list[dict[str, Any]] = [{"kind": "collectivite", "collectivite_id": COLLECTIVITE, "name": "Benchville"}]
    for k, rid in enumerate(REGIES, 1):
        lines.append(
            {
                "kind": "regie",
                "collectivite_id": COLLECTIVITE,
                "regie_id": rid,
                "name": rid.capitalize(),
                "payment_backend": "payfip",
                "payment_options": {"numcli": f"{k:06d}"},
            }
        )
    parents.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    invoices = directory / f"factures-{n}.csv"
    with invoices.open("w", encoding="cp1252", newline="") as out:
        out.write(HEADER)
        for row in invoice_rows(n):
            out.write(";".join(row) + "\r\n")
    return parents, invoices


# -- children: one measurement each ------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """This process's own peak RSS. VmHWM, not getrusage: Linux keeps the maximum across exec, so a child
    forked from a big parent (make bench runs every benchmark in one process) would report the parent's."""
    with open("/proc/self/status", encoding="ascii") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) / 1024


def child_import(parents: Path, invoices: Path) -> dict[str, Any]:
    from espace_famille.importer.engine import Importer

    def opener(path: Path) -> Any:
        return lambda: path.open("rb")

    assert Importer().run(parents.name, opener(parents)).counts["created"] == 3
    start = time.perf_counter()
    report = Importer().run(invoices.name, opener(invoices))
    seconds = time.perf_counter() - start
    assert report.status == "done" and report.counts["rejected"] == 0, report.as_json()
    return {"rows": report.counts["created"], "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def child_bare(n: int) -> dict[str, Any]:
    """BatchWriteItem of the same items, 25 at a time, unprocessed ones sent again: the floor.

    Items are built as they are sent (from the rows' values, no file and no validation), so that the
    loop's memory stays as flat as the import's.
    """
    from espace_famille import text
    from espace_famille.dal import catalog
    from espace_famille.dal.table import client, table, to_ddb
    from espace_famille.model import Debtor, Invoice, invoice_id, key_digest

    def items() -> Iterator[dict[str, Any]]:
        debtors: set[tuple[str, str]] = set()
        for cid, rid, ref, key, did, name, issued, due, amount, status, paid_at in invoice_rows(n):
            record = Invoice(
                collectivite_id=cid,
                regie_id=rid,
                reference=ref,
                key_digest=key_digest(invoice_id(cid, ref), key),
                debtor_id=did,
                debtor_name=name,
                issued_on=text.parse_date(issued),
                due_on=text.parse_date(due),
                amount_cents=text.parse_cents(amount),
                status=status,
                paid_at=text.parse_timestamp(paid_at) if paid_at else None,
                paid_by="external" if paid_at else None,
            )
            yield to_ddb(catalog.to_item(record))
            if (rid, did) not in debtors:
                debtors.add((rid, did))
                yield to_ddb(catalog.to_item(Debtor(cid, rid, did, name)))

    ddb, name = client(), table()
    start = time.perf_counter()
    sent = 0
    batch: list[dict[str, Any]] = []
    for item in items():
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            sent += _write(ddb, name, batch)
            batch = []
    sent += _write(ddb, name, batch)
    seconds = time.perf_counter() - start
    return {"rows": n, "items": sent, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def _write(ddb: Any, name: str, batch: list[dict[str, Any]]) -> int:
    pending: dict[str, Any] = {name: batch} if batch else {}
    while pending:
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(batch)


# -- the parent: fresh moto server per measurement ---------------------------------------------------
def measure(args: list[str]) -> dict[str, Any]:
    from infra.cfn import LOCAL_REGION, load_template
    from infra.local.aws import LocalAws

    aws = LocalAws()
    aws.start()
    try:
        template = load_template(ROOT / "template.yaml", {"SiteUrl": "http://127.0.0.1:9"}, stack_name="bench")
        aws.create_resources(template)
        env = {
            **os.environ,
            "TABLE_NAME": template.physical_name("Table"),
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_import", "--child", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        aws.stop()


def main() -> list[Row]:
    big = int(os.environ.get("IMPORT_BENCH_ROWS", "100000"))
    small = big // 10
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        directory = Path(tmp)
        parents, big_file = write_files(directory, big)
        _, small_file = write_files(directory, small)
        size_mb = big_file.stat().st_size / 1e6
        debtors = big // INVOICES_PER_DEBTOR
        print(
            f"{big} invoices in {size_mb:.1f} MB of CSV (Windows-1252), {debtors} debtors", file=sys.stderr, flush=True
        )
        bare = measure(["bare", str(big)])
        print(
            f"  bare BatchWriteItem loop : {bare['items']} items in {bare['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        imported = measure(["import", str(parents), str(big_file)])
        print(
            f"  import                   : {imported['rows']} rows in {imported['seconds']:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        imported_small = measure(["import", str(parents), str(small_file)])

    def rate(r: dict[str, Any]) -> float:
        return float(r["rows"]) / float(r["seconds"])

    return [
        Row(
            "import",
            f"{big:,} invoices ({size_mb:.1f} MB CSV, {debtors:,} debtors) into moto: rows/s, peak RSS",
            f"{rate(imported):,.0f}/s, {imported['peak_rss_mb']:.0f} MB",
            f"bare BatchWriteItem loop, same {bare['items']:,} items: {rate(bare):,.0f}/s, {bare['peak_rss_mb']:.0f} MB",
            f"× {rate(imported) / rate(bare):.2f}",
        ),
        Row(
            "import",
            f"{imported_small['rows']:,} invoices: rows/s, peak RSS (memory flat with size)",
            f"{rate(imported_small):,.0f}/s, {imported_small['peak_rss_mb']:.0f} MB",
            f"{imported['rows']:,} invoices: {imported['peak_rss_mb']:.0f} MB",
            f"RSS × {imported_small['peak_rss_mb'] / imported['peak_rss_mb']:.2f}",
        ),
    ]


def _child(argv: list[str]) -> None:
    result = child_import(Path(argv[1]), Path(argv[2])) if argv[0] == "import" else child_bare(int(argv[1]))
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main()
