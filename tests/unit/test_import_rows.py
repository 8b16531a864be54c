"""Row models of the import: what each field may hold, normalisation, and French reasons when it may not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from espace_famille.importer.rows import COLUMNS, MODELS, REQUIRED, row_errors
from espace_famille.model import Invoice, InvoiceLine, Regie, invoice_id, key_matches
from tests.import_support import invoice


def errors(kind: str, fields: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        MODELS[kind].model_validate(fields)
    return row_errors(info.value)


def test_columns_required_and_optional_per_kind():
    assert REQUIRED == {
        "collectivite": ["collectivite_id", "name"],
        "regie": ["collectivite_id", "regie_id", "name", "payment_backend"],
        "invoice": [
            "collectivite_id",
            "regie_id",
            "reference",
            "key",
            "debtor_id",
            "debtor_name",
            "issued_on",
            "due_on",
            "amount",
        ],
        "invoice_line": ["collectivite_id", "reference", "line_no", "label", "quantity", "unit_price", "amount"],
        "news": ["collectivite_id", "published_on", "category", "title", "body"],
    }
    assert set(COLUMNS["invoice"]) - set(REQUIRED["invoice"]) == {"status", "paid_at"}
    assert set(COLUMNS["regie"]) - set(REQUIRED["regie"]) == {"payment_options"}
    assert set(COLUMNS["news"]) - set(REQUIRED["news"]) == {"news_id"}


def test_an_invoice_row_normalised():
    row = MODELS["invoice"].model_validate(
        invoice(" jolie ville ", " 2017-wi-00 -9710 ", key=" k 9710 ", debtor_name="  M LACROIX Jerome ")
    )
    record = row.record()  # type: ignore[attr-defined]
    assert isinstance(record, Invoice)
    assert (record.collectivite_id, record.reference, record.debtor_name) == (
        "JOLIEVILLE",
        "2017-WI-00-9710",
        "M LACROIX Jerome",
    )
    assert (record.issued_on, record.due_on, record.amount_cents, record.status) == (
        "2017-08-01",
        "2030-08-31",
        2345,
        "open",
    )
    # The key is kept only as a digest, under the normalised form a parent may type in any case.
    assert "K9710" not in repr(record)
    assert key_matches(record.key_digest, invoice_id("JOLIEVILLE", "2017-WI-00-9710"), "K9710")


@pytest.mark.parametrize(
    ("written", "status"),
    [
        ("open", "open"),
        ("Ouverte", "open"),
        ("à payer", "open"),
        ("A_PAYER", "open"),
        ("impayée", "open"),
        ("paid", "paid"),
        ("Payée", "paid"),
        ("PAYEE", "paid"),
        ("réglée", "paid"),
        ("soldée", "paid"),
        ("cancelled", "cancelled"),
        ("canceled", "cancelled"),
        ("Annulée", "cancelled"),
    ],
)
def test_status_aliases(written, status):
    paid_at = "11/07/2017 16:28:09" if status == "paid" else ""
    row = MODELS["invoice"].model_validate(invoice("J", "R1", status=written, paid_at=paid_at))
    assert row.status == status  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amount": "-3,35"}, [("amount", "le montant doit être positif")]),
        ({"amount": "0"}, [("amount", "le montant doit être supérieur à zéro")]),
        ({"amount": "100000,01"}, [("amount", "le montant dépasse 100 000 €")]),
        ({"amount": "23,455"}, [("amount", "montant avec plus de deux décimales")]),
        ({"issued_on": "31/02/2017"}, [("issued_on", "date impossible : « 31/02/2017 »")]),
        ({"due_on": "2017-13-01"}, [("due_on", "date impossible : « 2017-13-01 »")]),
        ({"due_on": "31/07/2017"}, [("due_on", "l’échéance précède la date de la facture")]),
        ({"status": "payée"}, [("paid_at", "une facture payée demande sa date de paiement (paid_at)")]),
        ({"paid_at": "11/07/2017 16:28:09"}, [("paid_at", "seule une facture payée a une date de paiement")]),
        (
            {"status": "perdue"},
            [("status", "statut inconnu (attendu : open, paid ou cancelled, ou ouverte, payée, annulée)")],
        ),
        (
            {"reference": "2017 WI/00 é"},
            [("reference", "référence invalide (lettres, chiffres, . / - ; 40 caractères au plus)")],
        ),
        ({"reference": ""}, [("reference", "valeur manquante")]),
        (
            {"collectivite_id": "JOLIE.VILLE"},
            [("collectivite_id", "identifiant invalide (lettres, chiffres, - et _, 32 caractères au plus)")],
        ),
        ({"debtor_id": "LACROIX J"}, [("debtor_id", "identifiant de débiteur invalide")]),
        ({"debtor_name": "\x00\u202e\t "}, [("debtor_name", "valeur manquante")]),
        ({"debtor_name": "x" * 201}, [("debtor_name", "trop long (au plus 200 caractères)")]),
        ({"debtor_name": ["M", "LACROIX"]}, [("debtor_name", "texte attendu")]),
        ({"montant": "1"}, [("montant", "champ inconnu")]),
    ],
)
def test_bad_invoice_fields(fields, expected):
    assert errors("invoice", {**invoice("J", "R1"), **fields}) == expected


def test_several_bad_fields_are_all_named():
    assert errors("invoice", invoice("J", "R1", amount="-1", issued_on="32/01/2017")) == [
        ("issued_on", "date impossible : « 32/01/2017 »"),
        ("amount", "le montant doit être positif"),
    ]


def test_a_bad_key_is_never_quoted_back():
    secret = "SECRET KEY WITH SPACES!"
    found = errors("invoice", invoice("J", "R1", key=secret))
    assert found == [("key", "clé invalide (lettres, chiffres, - et _ ; 64 caractères au plus)")]
    assert "SECRET" not in repr(found)


def test_missing_required_field_in_json():
    fields = invoice("J", "R1")
    del fields["key"]
    assert errors("invoice", fields) == [("key", "valeur manquante")]


def test_regie_backend_and_non_secret_options():
    row = MODELS["regie"].model_validate(
        {
            "collectivite_id": "j",
            "regie_id": "cantine",
            "name": "Restauration scolaire",
            "payment_backend": "PayFiP",
            "payment_options": "numcli=000001, saisie=T",
        }
    )
    assert row.record() == Regie("J", "CANTINE", "Restauration scolaire", "payfip", {"numcli": "000001", "saisie": "T"})  # type: ignore[attr-defined]
    base = {"collectivite_id": "J", "regie_id": "C", "name": "N"}
    assert errors("regie", {**base, "payment_backend": "payfip", "payment_options": "numcli=12"}) == [
        ("payment_options", "PayFiP demande l’option numcli (6 chiffres)")
    ]
    assert errors("regie", {**base, "payment_backend": "bitcoin"}) == [
        ("payment_backend", "moyen de paiement inconnu : « bitcoin »")
    ]
    assert errors("regie", {**base, "payment_backend": "payzen", "payment_options": {"secret_test": "abc"}}) == [
        ("payment_options", "l’option « secret_test » est un secret : elle se configure dans SSM, pas dans un fichier")
    ]
    assert errors("regie", {**base, "payment_backend": "payzen", "payment_options": "numcli"}) == [
        ("payment_options", "option illisible : « numcli » (attendu nom=valeur)")
    ]


def test_invoice_lines():
    base = {"collectivite_id": "J", "reference": "2017-vs-00-9700", "line_no": "2", "label": "Majoration"}
    row = MODELS["invoice_line"].model_validate({**base, "quantity": "1", "unit_price": "1,65", "amount": "1,65"})
    assert row.record() == InvoiceLine("J", "2017-VS-00-9700", 2, "Majoration", Decimal(1), 165, 165)  # type: ignore[attr-defined]
    discount = MODELS["invoice_line"].model_validate({**base, "quantity": "2,5", "unit_price": "-2", "amount": "-5"})
    assert discount.amount == -500  # type: ignore[attr-defined]
    assert errors("invoice_line", {**base, "quantity": "12", "unit_price": "3,35", "amount": "41,85"}) == [
        ("amount", "le montant de la ligne n’est pas quantité × prix unitaire")
    ]
    assert errors("invoice_line", {**base, "line_no": "²", "quantity": "1", "unit_price": "1", "amount": "1"}) == [
        ("line_no", "numéro de ligne entre 1 et 9999 attendu")
    ]
    assert errors("invoice_line", {**base, "quantity": "1,0005", "unit_price": "1", "amount": "1"}) == [
        ("quantity", "quantité avec plus de trois décimales")
    ]
    assert errors("invoice_line", {**base, "quantity": Decimal("1E+999999999"), "unit_price": "1", "amount": "1"}) == [
        ("quantity", "quantité hors limites (plus de 0 et au plus 10 000)")
    ]


def test_news_id_is_derived_when_absent_and_stable():
    fields = {
        "collectivite_id": "JOLIEVILLE",
        "published_on": "03/10/2019",
        "category": "Information",
        "title": "Information garderie",
        "body": "Ouverture de la garderie à 7h00.\r\nLe lundi.",
    }
    first = MODELS["news"].model_validate(fields).record()  # type: ignore[attr-defined]
    again = MODELS["news"].model_validate(fields).record()  # type: ignore[attr-defined]
    assert first.news_id == again.news_id and len(first.news_id) == 16
    assert first.body == "Ouverture de la garderie à 7h00.\nLe lundi."
    assert MODELS["news"].model_validate({**fields, "news_id": "info-1"}).record().news_id == "INFO-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Mme MARTIN Sophie (née DUPONT)", "Mme MARTIN Sophie (née DUPONT)"),
        ("O’Brien-Zoë & fils, 2e", "O’Brien-Zoë & fils, 2e"),
        ("M LACROIX\u202e Jerome", "M LACROIX Jerome"),
        ("\u202aM\u202b\u202c\u202d \u2066X\u2067\u2068\u2069\u200e\u200f\u061c", "M X"),
        ("M\x00LA\x1bCROIX\x7f\x85\x9f", "MLACROIX"),
        ("M\tLACROIX\r\nJerome", "M LACROIX  Jerome"),
    ],
)
def test_imported_names_keep_what_was_written_less_invisible_characters(written, kept):
    """Control and bidirectional characters are stripped from every imported name, label and notice."""
    records = [
        MODELS["collectivite"].model_validate({"collectivite_id": "J", "name": written}).record(),  # type: ignore[attr-defined]
        MODELS["regie"]
        .model_validate(  # type: ignore[attr-defined]
            {"collectivite_id": "J", "regie_id": "R", "name": written, "payment_backend": "none"}
        )
        .record(),
        MODELS["invoice"].model_validate(invoice("J", "R1", debtor_name=written)).record(),  # type: ignore[attr-defined]
    ]
    assert [r.name if not isinstance(r, Invoice) else r.debtor_name for r in records] == [kept] * 3
    line = {
        "collectivite_id": "J",
        "reference": "R1",
        "line_no": "1",
        "quantity": "1",
        "unit_price": "1",
        "amount": "1",
    }
    assert MODELS["invoice_line"].model_validate({**line, "label": written}).record().label == kept  # type: ignore[attr-defined]
    news = {"collectivite_id": "J", "published_on": "03/10/2019", "category": written, "title": written}
    item = MODELS["news"].model_validate({**news, "body": f"{written}\nSuite \u202eici"}).record()  # type: ignore[attr-defined]
    assert (item.category, item.title) == (kept[:50], kept)
    assert "\u202e" not in item.body and "\x00" not in item.body and item.body.endswith("\nSuite ici")
