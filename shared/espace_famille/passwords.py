"""Password hashing with argon2id and the strength policy; only the functions that verify or set passwords import this."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id is m=19 MiB, t=2, p=1 (Password Storage Cheat Sheet). We take RFC 9106's
# second recommended profile in memory and time (m=64 MiB, t=3), well above it, with p=1: Lambda gives a
# 512 MB function a fraction of one vCPU, so more lanes would only make each login slower, not stronger.
TIME_COST = 3
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, hash_len=32, salt_len=16
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# The hash of a random secret nobody kept, with the parameters above: verifying a password against it costs
# what verifying against a real account's hash costs, and shipping it ready means no process hashes it at
# start-up or, worse, on its first unknown e-mail (which would then answer more slowly than the others).
DECOY_HASH = "$argon2id$v=19$m=65536,t=3,p=1$zyilcV82MH+KeAtedvI2YQ$uLZPhQlx9CwYJmd/nrhVesnIGED2+12otmZx2qq+DyM"


def burn_verification(password: str) -> None:
    """Spends the time of one verification, so an unknown e-mail answers as slowly as a wrong password."""
    verify_password(DECOY_HASH, password)


# -- strength -------------------------------------------------------------------------------------------
MIN_SCORE = 3
# zxcvbn refuses longer input; a passphrase whose first 72 characters are weak is weak enough to refuse.
_ZXCVBN_MAX = 72
_WORD_SPLIT = re.compile(r"[\s.\-_+'’0-9@]+")
_SEPARATORS = ("", ".", "-", "_", " ")


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def user_inputs(email: str, display_name: str) -> list[str]:
    """The account's own words for zxcvbn: the address, its parts cut at dots, dashes and digits, the name's words.

    zxcvbn only finds a user input as a whole word, so "jerome.lacroix@example.org" passed whole does not
    make "Jerome.Lacroix1" weak; its pieces, and each two of them joined, do.
    """
    local, _, domain = email.rpartition("@")
    whole = [email, local, domain, display_name, _unaccented(display_name)]
    pieces: list[str] = []
    for text in (local, domain, display_name, _unaccented(display_name)):
        for word in _WORD_SPLIT.split(text.lower()):
            if len(word) >= 2 and word not in pieces:
                pieces.append(word)
    pairs = [a + sep + b for a in pieces[:8] for b in pieces[:8] if a != b for sep in _SEPARATORS]
    return [w.lower() for w in whole if w] + pieces + pairs


def _advice(result: dict[str, Any]) -> str:
    """What to do, in French, from what zxcvbn found in the password (its own feedback is in English)."""
    patterns = {m.get("pattern") for m in result.get("sequence", [])}
    dictionaries = {m.get("dictionary_name") for m in result.get("sequence", [])}
    if "user_inputs" in dictionaries:
        found = "il reprend votre nom ou votre adresse e-mail"
    elif "passwords" in dictionaries:
        found = "il fait partie des mots de passe les plus courants"
    elif "repeat" in patterns:
        found = "il répète des caractères ou des motifs (« aaa », « abcabc »)"
    elif "sequence" in patterns or "spatial" in patterns:
        found = "il suit une suite de caractères ou de touches (« 1234 », « azerty »)"
    elif "date" in patterns:
        found = "il contient une date"
    else:
        found = "il est trop facile à deviner"
    return (
        f"mot de passe trop faible : {found}. Choisissez plutôt une phrase de quatre mots ou plus, "
        "sans lien entre eux, qui ne reprend ni votre nom ni votre adresse e-mail"
    )


def weakness(password: str, email: str, display_name: str) -> str | None:
    """Why the password is too weak for this account (French, saying what to do), or None if it is strong enough."""
    # Loaded here: its dictionaries take longer to import than the rest of a login, which never needs them.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=user_inputs(email, display_name))
    if int(result["score"]) >= MIN_SCORE:
        return None
    return _advice(result)
