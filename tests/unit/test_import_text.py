"""How amounts, dates and codes written by people or French office software are read (espace_famille.text)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from espace_famille import text


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("41,85", 4185),
        ("41.85", 4185),
        ("1 234,50 €", 123450),
        ("1\u202f234,50\u00a0€", 123450),  # what French Excel puts between thousands
        ("23,4", 2340),
        ("41,850", 4185),  # a trailing zero is not a third decimal
        ("100000", 100_000_00),
        ("100 000,00", 100_000_00),
        (7, 700),
        (Decimal("6.70"), 670),
        (16.75, 1675),
    ],
)
def test_amounts_in_euros_become_cents(value, cents):
    assert text.parse_cents(value) == cents


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-3,35", "le montant doit être positif"),
        ("0", "le montant doit être supérieur à zéro"),
        ("0,00", "le montant doit être supérieur à zéro"),
        ("100000,01", "le montant dépasse 100 000 €"),
        ("2000000", "le montant dépasse 100 000 €"),
        ("41,855", "montant avec plus de deux décimales"),
        ("1.234,50", "montant illisible : « 1.234,50 »"),
        ("1e5", "montant illisible : « 1e5 »"),
        ("", "montant illisible : «  »"),
        ("douze", "montant illisible : « douze »"),
        ("٤١,٨٥", "montant illisible : « ٤١,٨٥ »"),  # digits, but not ours
        (True, "montant attendu"),
        (None, "montant attendu"),
        (Decimal("NaN"), "montant illisible"),
        (float("inf"), "montant illisible"),
        # A JSON number may be anything: bounds come before any arithmetic.
        (Decimal("1E+999999999"), "le montant dépasse 100 000 €"),
        (Decimal("1E-999999999"), "montant avec plus de deux décimales"),
        ("9" * 5000, "le montant dépasse 100 000 €"),
    ],
)
def test_bad_amounts_are_refused_with_a_french_reason(value, reason):
    with pytest.raises(ValueError) as info:
        text.parse_cents(value)
    assert str(info.value) == reason


def test_line_amounts_may_be_negative_or_zero_when_allowed():
    assert text.parse_cents("-1,65", allow_negative=True) == -165
    assert text.parse_cents("0", allow_zero=True) == 0
    with pytest.raises(ValueError, match="dépasse"):
        text.parse_cents("-100000,01", allow_negative=True)


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("01/08/2017", "2017-08-01"),
        ("1/8/2017", "2017-08-01"),
        ("2017-08-01", "2017-08-01"),
        (" 29/02/2020 ", "2020-02-29"),
    ],
)
def test_dates_french_or_iso(value, day):
    assert text.parse_date(value) == day


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("31/02/2017", "date impossible : « 31/02/2017 »"),
        ("29/02/2017", "date impossible : « 29/02/2017 »"),
        ("2017-13-01", "date impossible : « 2017-13-01 »"),
        ("00/01/2017", "date impossible : « 00/01/2017 »"),
        ("01-08-2017", "date illisible : « 01-08-2017 » (attendu JJ/MM/AAAA ou AAAA-MM-JJ)"),
        ("01/08/17", "date illisible : « 01/08/17 » (attendu JJ/MM/AAAA ou AAAA-MM-JJ)"),
        ("01/01/1999", "date hors limites : 1999-01-01"),
        (20170801, "date attendue"),
    ],
)
def test_impossible_or_unreadable_dates(value, reason):
    with pytest.raises(ValueError) as info:
        text.parse_date(value)
    assert str(info.value) == reason


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("11/07/2017 16:28:09", "2017-07-11T14:28:09.000000Z"),  # Paris summer time is UTC+2
        ("11/01/2017 16:28", "2017-01-11T15:28:00.000000Z"),  # and winter time UTC+1
        ("11/07/2017", "2017-07-10T22:00:00.000000Z"),
        ("2017-07-11T14:28:09Z", "2017-07-11T14:28:09.000000Z"),
        ("2017-07-11T16:28:09+02:00", "2017-07-11T14:28:09.000000Z"),
        ("2017-07-11 16:28:09", "2017-07-11T14:28:09.000000Z"),
    ],
)
def test_timestamps_are_stored_in_utc(value, stored):
    assert text.parse_timestamp(value) == stored


@pytest.mark.parametrize("value", ["11/07/2017 25:00", "31/02/2017 10:00", "hier", "2017-07-11T14:28:09+25:00"])
def test_unreadable_timestamps(value):
    with pytest.raises(ValueError, match="date et heure illisibles"):
        text.parse_timestamp(value)


def test_codes_references_and_keys_lose_spaces_and_case():
    assert text.compact_upper(" 2017-wi-00 -9710\u00a0") == "2017-WI-00-9710"
    assert text.compact_upper("k 97\t10") == "K9710"
