"""Field types of the API's request bodies, with the account rules (pydantic, French reasons)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from espace_famille.text import has_control

PASSWORD_MIN = 12
PASSWORD_MAX = 256
NAME_MAX = 100
# Besides letters of any script (and the marks that complete them): what French names hold.
_NAME_PUNCTUATION = frozenset(" '’-.")


class Body(BaseModel):
    """A request body: a JSON object with exactly the fields named, nothing more."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def normalise_email(value: str) -> str:
    """A mailbox address as email-validator reads it (syntax only: no DNS), in its ASCII form, lower case.

    The domain may be internationalised: it is kept in IDNA form (xn--…), so that one address has one
    spelling in the table and SES can send to it. The local part must be ASCII: few mail systems take more.
    """
    text = value.strip()
    if has_control(text) or len(text) > 254:
        raise ValueError("adresse e-mail invalide")
    try:
        found = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValueError("adresse e-mail invalide : vérifiez-la (exemple : prenom.nom@exemple.fr)") from None
    email = (found.ascii_email or found.normalized).lower()
    if len(email) > 254:
        raise ValueError("adresse e-mail invalide")
    return email


def _new_password(value: str) -> str:
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValueError(f"le mot de passe doit compter de {PASSWORD_MIN} à {PASSWORD_MAX} caractères")
    if has_control(value):
        raise ValueError("le mot de passe contient des caractères de contrôle")
    return value


def display_name(value: str) -> str:
    """A parent's name: letters of any script, spaces, apostrophes, hyphens and dots; 1 to 100 characters.

    Nothing else, so that a name can carry neither a link nor a sentence into a mail, nor reorder text with
    bidirectional controls.
    """
    name = unicodedata.normalize("NFC", value.strip())
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"le nom doit compter de 1 à {NAME_MAX} caractères")
    letters = 0
    for char in name:
        category = unicodedata.category(char)
        if category.startswith("L"):
            letters += 1
        elif not (category.startswith("M") or char in _NAME_PUNCTUATION):
            raise ValueError(
                "le nom ne peut contenir que des lettres, des espaces, des apostrophes, des tirets et des points"
            )
    if not letters:
        raise ValueError("le nom doit contenir au moins une lettre")
    return name


def _filled_line(value: str) -> str:
    if not value.strip():
        raise ValueError("valeur manquante")
    if has_control(value):
        raise ValueError("caractères de contrôle interdits")
    return value


# `format: email` tells clients (and schemathesis) what the validator wants; it is documentation only.
Email = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(normalise_email),
    Field(json_schema_extra={"format": "email"}),
]
# Length and control characters here; strength (zxcvbn, with the account's own words) in passwords.check_strength.
NewPassword = Annotated[str, StringConstraints(max_length=PASSWORD_MAX * 4), AfterValidator(_new_password)]
# A password given to prove who one is: any length the policy ever allowed; checked against the hash only.
GivenPassword = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX * 4)]
DisplayName = Annotated[str, StringConstraints(max_length=400), AfterValidator(display_name)]
# Tokens are checked by the domain (a malformed one is just an invalid token, 400).
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# One line typed by a person (e.g. a reference copied from paper): not blank, no control character.
ShortText = Annotated[str, StringConstraints(max_length=100), AfterValidator(_filled_line)]
