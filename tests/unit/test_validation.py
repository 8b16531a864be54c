"""Request field rules (DESIGN §6) and the French texts of amounts and dates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from espace_famille.validation import Body, DisplayName, Email, NewPassword


class Signup(Body):
    email: Email
    password: NewPassword
    display_name: DisplayName


def make(**fields):
    base = {"email": "parent@example.org", "password": "x" * 12, "display_name": "Parent"}
    base.update(fields)
    return Signup.model_validate(base)


def test_email_is_trimmed_and_lower_cased():
    assert make(email="  Jean.Dupont@Example.ORG ").email == "jean.dupont@example.org"


@pytest.mark.parametrize(
    "email", ["", "sans-arobase", "a@b", "a@@b.fr", "a b@c.fr", "a@b\n.fr", "a\x00@b.fr", "x" * 250 + "@b.fr"]
)
def test_bad_emails(email):
    with pytest.raises(ValidationError):
        make(email=email)


@pytest.mark.parametrize("length, ok", [(11, False), (12, True), (256, True), (257, False)])
def test_password_length(length, ok):
    if ok:
        assert len(make(password="é" * length).password) == length
    else:
        with pytest.raises(ValidationError):
            make(password="é" * length)


@pytest.mark.parametrize("name, ok", [("", False), ("  ", False), ("A", True), ("x" * 100, True), ("x" * 101, False)])
def test_display_name(name, ok):
    if ok:
        assert make(display_name=f" {name} ").display_name == name
    else:
        with pytest.raises(ValidationError):
            make(display_name=name)


def test_control_characters_are_refused():
    for bad in ("Jean\x00", "Jean\tPierre", "Je\u0085an", "\x1b[2J"):
        with pytest.raises(ValidationError):
            make(display_name=bad)


def test_extra_fields_are_refused():
    with pytest.raises(ValidationError):
        Signup.model_validate({"email": "a@b.fr", "password": "x" * 12, "display_name": "P", "admin": True})
