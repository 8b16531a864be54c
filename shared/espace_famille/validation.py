"""Field types of the API's request bodies, with the rules of DESIGN §6 (pydantic, French reasons)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from espace_famille.text import has_control

PASSWORD_MIN = 12
PASSWORD_MAX = 256
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class Body(BaseModel):
    """A request body: a JSON object with exactly the fields named, nothing more."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if has_control(email) or not _EMAIL_RE.match(email) or len(email) > 254:
        raise ValueError("adresse e-mail invalide")
    return email


def _new_password(value: str) -> str:
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValueError(f"le mot de passe doit compter de {PASSWORD_MIN} à {PASSWORD_MAX} caractères")
    if has_control(value):
        raise ValueError("le mot de passe contient des caractères de contrôle")
    return value


def _display_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("le nom affiché doit compter de 1 à 100 caractères")
    if has_control(name):
        raise ValueError("le nom affiché contient des caractères de contrôle")
    return name


def _filled_line(value: str) -> str:
    if not value.strip():
        raise ValueError("valeur manquante")
    if has_control(value):
        raise ValueError("caractères de contrôle interdits")
    return value


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalise_email)]
NewPassword = Annotated[str, StringConstraints(max_length=PASSWORD_MAX * 4), AfterValidator(_new_password)]
# A password given to prove who one is: any length the policy ever allowed; checked against the hash only.
GivenPassword = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX * 4)]
DisplayName = Annotated[str, StringConstraints(max_length=400), AfterValidator(_display_name)]
# Tokens are checked by the domain (a malformed one is just an invalid token, 400).
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# One line typed by a person (e.g. a reference copied from paper): not blank, no control character.
ShortText = Annotated[str, StringConstraints(max_length=100), AfterValidator(_filled_line)]
