"""Password hashing with argon2id; only the functions that verify or set passwords import this module."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("espace-famille: decoy password for unknown accounts")


def prepare_decoy() -> None:
    """Computes the decoy hash now (the login function's init), so no unknown e-mail's login pays for it."""
    _decoy_hash()


def burn_verification(password: str) -> None:
    """Spends the time of one verification, so an unknown e-mail answers as slowly as a wrong password."""
    verify_password(_decoy_hash(), password)
