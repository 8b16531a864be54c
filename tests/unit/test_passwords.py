"""The password policy: at least 12 characters and a zxcvbn score of 3, with the account's own words."""

from __future__ import annotations

import pytest

from espace_famille import passwords
from espace_famille.passwords import user_inputs, weakness
from tests.support import PASSWORD


@pytest.mark.parametrize(
    ("password", "email", "name", "found"),
    [
        ("aaaaaaaaaaaa", "parent@example.org", "Parent", "répète"),
        ("123456789012", "parent@example.org", "Parent", "courants"),
        ("motdepasse12", "parent@example.org", "Parent", "courants"),
        ("Jerome.Lacroix1", "jerome.lacroix@example.org", "Parent", "votre nom ou votre adresse"),
        ("Jerome.Lacroix1", "jl@example.org", "Jérôme Lacroix", "votre nom ou votre adresse"),
        ("lacroix.jerome1", "jerome.lacroix@example.org", "Parent", "votre nom ou votre adresse"),
        ("JeromeLacroix12", "jerome.lacroix@example.org", "Parent", "votre nom ou votre adresse"),
    ],
)
def test_weak_passwords_are_refused_with_french_advice(password, email, name, found):
    reason = weakness(password, email, name)
    assert reason is not None
    assert found in reason
    assert "Choisissez" in reason  # says what to do


@pytest.mark.parametrize("password", [PASSWORD, "cheval agrafe pile correcte", "un nouveau mot de passe solide"])
def test_passphrases_pass(password):
    assert weakness(password, "jerome.lacroix@example.org", "Jérôme Lacroix") is None


def test_the_whole_address_alone_would_not_catch_the_name():
    # Why the inputs are split: zxcvbn finds a user input only as a whole word.
    from zxcvbn import zxcvbn

    assert zxcvbn("Jerome.Lacroix1", user_inputs=["jerome.lacroix@example.org"])["score"] >= passwords.MIN_SCORE
    assert {"jerome", "lacroix", "example", "org", "jerome.lacroix"} <= set(
        user_inputs("jerome.lacroix@example.org", "Parent")
    )


def test_user_inputs_split_at_dots_dashes_and_digits_and_take_the_names_words():
    inputs = user_inputs("anne-marie.dupont2@mairie-exemple.fr", "Zoë d’Arc")
    assert {"anne", "marie", "dupont", "mairie", "exemple", "fr", "zoë", "zoe", "arc"} <= set(inputs)


def test_very_long_passwords_are_checked_on_their_first_72_characters():
    assert weakness("a" * 200, "parent@example.org", "Parent") is not None
    assert weakness(PASSWORD * 5, "parent@example.org", "Parent") is None
