"""The import file reader: encodings, CSV the French-office way, JSON Lines, what dooms a file or a line."""

from __future__ import annotations

import tracemalloc

import pytest

from espace_famille.importer import reader
from espace_famille.importer.reader import FileRejected, RawRow, csv_kind, read_rows
from tests.import_support import csv_text, invoice, jsonl_text, opener

HEADER = "collectivite_id;name\r\n"


def read(name: str, data: bytes | str) -> tuple[str, str, list[RawRow]]:
    fmt, encoding, rows = read_rows(name, opener(data))
    return fmt, encoding, list(rows)


def rejected(name: str, data: bytes | str) -> str:
    with pytest.raises(FileRejected) as info:
        read(name, data)
    return str(info.value)


def outline(rows: list[RawRow]) -> list[tuple[int, object]]:
    """(line, fields or error) of each row, to compare whole results at once."""
    return [(r.line, r.fields if r.error is None else r.error) for r in rows]


# -- encodings ---------------------------------------------------------------------------------------
def test_utf8_with_and_without_bom():
    for data in (HEADER + "J;Saint-Étienne\r\n", "\ufeff" + HEADER + "J;Saint-Étienne\r\n"):
        fmt, encoding, rows = read("collectivite.csv", data.encode("utf-8"))
        assert (fmt, encoding) == ("csv", "utf-8")
        assert outline(rows) == [(2, {"collectivite_id": "J", "name": "Saint-Étienne"})]


def test_windows_1252_as_french_excel_saves_it():
    data = (HEADER + "J;Régie « périscolaire » – 5 €\r\n").encode("cp1252")
    _, encoding, rows = read("collectivite.csv", data)
    assert encoding == "windows-1252"
    assert outline(rows) == [(2, {"collectivite_id": "J", "name": "Régie « périscolaire » – 5 €"})]


def test_a_file_neither_utf8_nor_windows_1252_is_refused_whole():
    # 0x81 and 0x9D have no character in Windows-1252, and are not valid UTF-8 here.
    assert rejected("collectivite.csv", HEADER.encode() + b"J;Caf\x81\x9d\r\n") == (
        "encodage non reconnu : le fichier n’est ni en UTF-8 ni en Windows-1252"
    )


def test_utf8_with_one_stray_byte_is_refused_naming_its_line():
    # A Windows-1252 "é" pasted into a UTF-8 file: read as Windows-1252, every other accent would be garbled.
    data = (HEADER + "J;Zoé\r\nK;Chloé\r\n").encode("utf-8") + b"L;Ren\xe9e\r\nM;Ma\xefa\r\n"
    assert rejected("collectivite.csv", data) == (
        "encodage mixte : le fichier contient du texte en UTF-8, mais l’octet 0xE9 de la ligne 4 "
        "n’est pas de l’UTF-8 ; l’enregistrer entièrement en UTF-8"
    )
    # The same in JSON Lines, and whatever the line breaks.
    jsonl = jsonl_text({"kind": "collectivite", "collectivite_id": "J", "name": "Zoé"}).encode() + b'{"x": "\xe9"}\n'
    assert "l’octet 0xE9 de la ligne 2 " in rejected("x.jsonl", jsonl)
    for newline in ("\n", "\r"):
        text = f"collectivite_id;name{newline}J;Zoé{newline}{newline}K;B{newline}".encode() + b"L;\xe9"
        assert "de la ligne 5 " in rejected("collectivite.csv", text), newline


def test_the_bad_byte_is_found_across_chunks_and_line_breaks_split_between_them(monkeypatch):
    monkeypatch.setattr(reader, "_CHUNK", 7)
    data = "a\r\nb\r\né\r\n".encode() + b"\r\n\r\nx\xe9"
    assert "de la ligne 7 " in rejected("collectivite.csv", HEADER.encode() + data)


def test_a_stray_byte_before_the_first_utf8_sequence_is_named_too():
    # The multi-byte sequence further on proves the file was written as UTF-8.
    late = HEADER.encode() + b"J;Ren\xe9e\r\n" + ("K;x\r\n" * 10_000 + "L;Zoé\r\n").encode()
    assert "l’octet 0xE9 de la ligne 2 " in rejected("collectivite.csv", late)


def test_a_cut_multibyte_character_at_the_end_of_a_utf8_file_is_named():
    data = (HEADER + "J;Zoé\r\nK;").encode("utf-8") + "é".encode()[:1]
    assert "l’octet 0xC3 de la ligne 3 " in rejected("collectivite.csv", data)


def test_windows_1252_without_multibyte_utf8_is_still_windows_1252():
    # "é" then "»" in Windows-1252 (0xE9 0xBB) is not a valid UTF-8 sequence either.
    data = (HEADER + "J;Régie « Zoé » n°1 – été\r\n").encode("cp1252")
    _, encoding, rows = read("collectivite.csv", data)
    assert encoding == "windows-1252"
    assert outline(rows) == [(2, {"collectivite_id": "J", "name": "Régie « Zoé » n°1 – été"})]


def test_utf16_is_named_in_the_refusal():
    assert rejected("collectivite.csv", (HEADER + "J;Ville\r\n").encode("utf-16")) == (
        "encodage non reconnu : le fichier est en UTF-16 ; l’enregistrer en UTF-8 ou en Windows-1252"
    )
    assert rejected("collectivite.csv", (HEADER + "J;Ville\r\n").encode("utf-16-le")) == (
        "encodage non reconnu : le fichier contient des octets nuls (UTF-16 ?)"
    )


def test_json_lines_must_be_utf8():
    data = jsonl_text({"kind": "collectivite", "collectivite_id": "J", "name": "Pré"}).encode("cp1252")
    assert rejected("x.jsonl", data) == "encodage non reconnu : un fichier JSON Lines doit être en UTF-8"


# -- what names a file's format and kind -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("imports/2017/02-factures.csv", "invoice"),
        ("Factures_aout.CSV", "invoice"),
        ("invoice-2017.csv", "invoice"),
        ("03_lignes.csv", "invoice_line"),
        ("invoice_lines.csv", "invoice_line"),
        ("regies.csv", "regie"),
        ("collectivites.csv", "collectivite"),
        ("actualites-octobre.csv", "news"),
        ("news.csv", "news"),
    ],
)
def test_a_csv_file_name_says_its_kind(name, kind):
    assert csv_kind(name) == kind


def test_unknown_kind_or_extension_refuses_the_file():
    assert rejected("export.csv", HEADER).startswith("type de fichier CSV inconnu")
    assert rejected("factures.xlsx", HEADER) == "format de fichier inconnu : extension .csv ou .jsonl attendue"


# -- header ------------------------------------------------------------------------------------------
def test_header_names_ignore_case_accents_and_spaces():
    data = "Collectivité ID;Réference;Line-No;Label;Quantity;Unit Price;AMOUNT\r\nJ;R1;1;Repas;2;3,35;6,70\r\n"
    _, _, rows = read("lignes.csv", data)
    assert rows[0].fields == {
        "collectivite_id": "J",
        "reference": "R1",
        "line_no": "1",
        "label": "Repas",
        "quantity": "2",
        "unit_price": "3,35",
        "amount": "6,70",
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("collectivite_id,name\r\nJ,Ville\r\n", "séparateur incorrect : les colonnes doivent être séparées par « ; »"),
        (
            "collectivite_id\tname\r\nJ\tVille\r\n",
            "séparateur incorrect : les colonnes doivent être séparées par « ; »",
        ),
        ("collectivite_id\r\nJ\r\n", "colonnes manquantes pour le type collectivite : name"),
        (
            "collectivite_id;name;maire\r\nJ;Ville;X\r\n",
            "colonnes inconnues pour le type collectivite : maire (colonnes possibles : collectivite_id, name)",
        ),
        ("collectivite_id;name;name\r\n", "colonne en double dans l’en-tête : name"),
        ("collectivite_id;name;\r\n", "colonne sans nom dans l’en-tête (colonne 3)"),
        ('collectivite_id;"name\r\n', "en-tête illisible : guillemet non fermé"),
        ("", "fichier vide"),
        ("\ufeff", "fichier vide"),
        ("\r\n\r\n  \r\n", "fichier vide"),
        ("\r\n" + HEADER, "en-tête manquant : la première ligne est vide"),
    ],
)
def test_what_refuses_a_whole_csv_file(data, reason):
    assert rejected("collectivite.csv", data) == reason


def test_header_only_is_an_empty_import_not_an_error():
    assert read("collectivite.csv", HEADER) == ("csv", "utf-8", [])


# -- lines -------------------------------------------------------------------------------------------
def test_line_numbers_blank_lines_and_line_endings():
    data = HEADER + "A;Un\r\n\r\nB;Deux\rC;Trois\nD;Quatre"
    _, _, rows = read("collectivite.csv", data)
    assert [(r.line, r.fields) for r in rows] == [
        (2, {"collectivite_id": "A", "name": "Un"}),
        (4, {"collectivite_id": "B", "name": "Deux"}),
        (5, {"collectivite_id": "C", "name": "Trois"}),
        (6, {"collectivite_id": "D", "name": "Quatre"}),  # a last line without a line break is fine when whole
    ]


def test_empty_optional_values_are_absent_and_empty_required_ones_stay():
    data = csv_text([invoice("J", "R1", status="", paid_at="", amount="")])
    _, _, rows = read("factures.csv", data)
    fields = rows[0].fields
    assert fields is not None
    assert "status" not in fields and "paid_at" not in fields
    assert fields["amount"] == ""


def test_wrong_number_of_values_and_wrong_separator_in_a_row():
    data = HEADER + "A;Un;de trop\r\nB\r\nC,Trois\r\nD;Quatre\r\n"
    _, _, rows = read("collectivite.csv", data)
    assert outline(rows) == [
        (2, ("ligne", "3 valeurs pour 2 colonnes")),
        (3, ("ligne", "1 valeurs pour 2 colonnes")),
        (4, ("ligne", "séparateur incorrect : les valeurs doivent être séparées par « ; »")),
        (5, {"collectivite_id": "D", "name": "Quatre"}),
    ]


def test_truncated_last_line():
    data = csv_text([invoice("J", "R1"), invoice("J", "R2")])
    cut = data[: data.rindex(";23,45")]  # the export stopped in the middle of the last row
    _, _, rows = read("factures.csv", cut)
    assert outline(rows)[1] == (3, ("ligne", "dernière ligne tronquée : 8 valeurs pour 11 colonnes"))
    assert rows[0].fields is not None


def test_truncated_inside_a_quoted_value():
    _, _, rows = read("collectivite.csv", HEADER + 'A;Un\r\nB;"Ville de')
    assert outline(rows)[1] == (3, ("ligne", "guillemet non fermé (dernière ligne tronquée ?)"))


def test_a_quote_left_open_spoils_its_own_line_only():
    _, _, rows = read("collectivite.csv", HEADER + 'A;"Un\r\nB;Deux\r\nC;"Tr"ois"\r\nD;"Qua;tre"\r\n')
    assert outline(rows) == [
        (2, ("ligne", "guillemet non fermé")),
        (3, {"collectivite_id": "B", "name": "Deux"}),
        (4, ("ligne", "guillemet mal placé : un champ entre guillemets doit être suivi de « ; »")),
        (5, {"collectivite_id": "D", "name": "Qua;tre"}),
    ]


def test_a_news_body_may_span_lines_in_quotes():
    data = (
        "collectivite_id;published_on;category;title;body\r\n"
        'J;03/10/2019;Information;Garderie;"Ouverture à 7h00.\r\nFermeture à 18h30."\r\n'
        "J;04/10/2019;Information;Cantine;Menu bio\r\n"
        'J;05/10/2019;Information;Oubli;"jamais fermé\r\n'
    )
    _, _, rows = read("actualites.csv", data)
    assert rows[0].line == 2 and rows[0].fields is not None
    assert rows[0].fields["body"] == "Ouverture à 7h00.\r\nFermeture à 18h30."
    assert rows[1].line == 4
    assert outline(rows)[2] == (5, ("ligne", "guillemet non fermé en fin de fichier (dernière ligne tronquée ?)"))


def test_a_10_mb_line_is_reported_and_never_held_in_memory():
    huge = "A;" + "x" * 10_000_000 + "\r\n"
    data = (HEADER + huge + "B;Deux\r\n").encode()
    tracemalloc.start()
    try:
        _, _, rows = read("collectivite.csv", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outline(rows) == [
        (2, ("ligne", "ligne trop longue (plus de 100000 caractères) : ignorée")),
        (3, {"collectivite_id": "B", "name": "Deux"}),
    ]
    assert peak < 3_000_000, peak  # the 10 MB line went through in pieces


# -- JSON Lines --------------------------------------------------------------------------------------
def test_json_lines_rows_and_their_kinds():
    data = jsonl_text(
        {"kind": "collectivite", "collectivite_id": "J", "name": "Ville"},
        {"kind": "invoice", "amount": 41.85},
    )
    fmt, encoding, rows = read("batch.jsonl", "\ufeff" + data + "\n")
    assert (fmt, encoding) == ("jsonl", "utf-8")
    assert [(r.line, r.kind) for r in rows] == [(1, "collectivite"), (2, "invoice")]
    assert rows[1].fields is not None and str(rows[1].fields["amount"]) == "41.85"  # a Decimal, not a float


def test_bad_json_lines_are_reported_one_by_one():
    data = (
        '{"kind": "collectivite", "collectivite_id": "J", "name": "Ville"}\n'
        "{pas du json}\n"
        "[1, 2]\n"
        '{"collectivite_id": "J"}\n'
        '{"kind": "facture"}\n'
        '{"kind": ["invoice"]}\n'
        '{"kind": "invoice", "amount": NaN}\n'
        + "[" * 50_000
        + "\n"
        + '{"kind": "invoice", "amount": '
        + "9" * 5000
        + "}\n"
        + "\n"
        + '{"kind": "collectivite", "collecti'
    )
    _, _, rows = read("x.jsonl", data)
    assert outline(rows) == [
        (1, {"collectivite_id": "J", "name": "Ville"}),
        (2, ("ligne", "JSON invalide (erreur en colonne 2)")),
        (3, ("ligne", "un objet JSON est attendu sur chaque ligne")),
        (4, ("kind", "champ kind manquant (attendu : collectivite, regie, invoice, invoice_line, news)")),
        (5, ("kind", "type inconnu : « facture » (attendu : collectivite, regie, invoice, invoice_line, news)")),
        (6, ("kind", "type inconnu : « list » (attendu : collectivite, regie, invoice, invoice_line, news)")),
        (7, ("ligne", "JSON invalide (NaN n’est pas un nombre JSON)")),
        (8, ("ligne", "JSON invalide : imbrication trop profonde")),
        (9, ("ligne", "JSON invalide (nombre trop long)")),
        (11, ("ligne", "JSON invalide (ligne tronquée)")),
    ]


def test_json_lines_long_line_and_empty_file():
    _, _, rows = read("x.jsonl", '{"kind": "news", "body": "' + "x" * 10_000_000 + '"}\n{"kind": "news"}\n')
    assert outline(rows) == [(1, ("ligne", "ligne trop longue (plus de 100000 caractères) : ignorée")), (2, {})]
    assert rejected("x.jsonl", "") == "fichier vide"
    assert rejected("x.jsonl", "\n\n") == "fichier vide"
