"""docs/import-format.md tells the truth: its examples read without error, its tables match the code."""

from __future__ import annotations

import re

from pydantic import ValidationError

from espace_famille.importer.reader import CSV_KIND_PREFIXES, read_rows
from espace_famille.importer.rows import COLUMNS, MODELS, REQUIRED, STATUS_ALIASES
from tests.import_support import opener
from tests.support import ROOT

DOC = (ROOT / "docs" / "import-format.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL)


def kind_of_header(header: str) -> str:
    columns = header.split(";")
    [kind] = [k for k, cols in COLUMNS.items() if set(columns) <= set(cols) and set(REQUIRED[k]) <= set(columns)]
    return kind


def test_csv_examples_read_without_error():
    examples = blocks("csv")
    assert len(examples) == 4
    for text in examples:
        kind = kind_of_header(text.splitlines()[0])
        name = {"invoice": "factures.csv", "invoice_line": "lignes.csv", "regie": "regies.csv", "news": "news.csv"}[
            kind
        ]
        _, _, rows = read_rows(name, opener(text.replace("\n", "\r\n").encode("cp1252")))
        for row in rows:
            assert row.error is None, (name, row)
            MODELS[kind].model_validate(row.fields)


def test_json_lines_example_reads_without_error():
    [text] = [b for b in blocks("json") if b.startswith('{"kind"')]
    _, _, rows = read_rows("jolieville.jsonl", opener(text))
    kinds = []
    for row in rows:
        assert row.error is None and row.kind is not None, row
        try:
            MODELS[row.kind].model_validate(row.fields)
        except ValidationError as exc:  # pragma: no cover - the message says which
            raise AssertionError(f"line {row.line}: {exc}") from exc
        kinds.append(row.kind)
    assert kinds == ["collectivite", "regie", "invoice", "invoice_line", "news"]


def test_column_tables_match_the_models():
    for kind, columns in COLUMNS.items():
        section = DOC.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        rows = re.findall(r"^\| `(\w+)` \| (yes|no)", section, re.MULTILINE)
        assert [name for name, _ in rows] == columns, kind
        assert [name for name, required in rows if required == "yes"] == REQUIRED[kind], kind


def test_status_aliases_and_file_prefixes_are_all_documented():
    for aliases in STATUS_ALIASES.values():
        for alias in aliases:
            accented = {"a payer": "à payer", "impayee": "impayée", "impaye": "impayé", "payee": "payée"}
            accented |= {"paye": "payé", "reglee": "réglée", "regle": "réglé", "soldee": "soldée", "solde": "soldé"}
            accented |= {"annulee": "annulée", "annule": "annulé"}
            assert f"`{accented.get(alias, alias)}`" in DOC, alias
    for prefix, _ in CSV_KIND_PREFIXES:
        assert f"`{prefix}`" in DOC, prefix
