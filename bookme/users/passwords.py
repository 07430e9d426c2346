"""argon2id password hashing."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256  # bounds the hashing work one request can ask for

# argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher(type=Type.ID)
_DUMMY = _hasher.hash("a password nobody has")


def configure(hasher: PasswordHasher) -> None:
    """Swap the hasher: the test suite uses cheap parameters so each user costs milliseconds."""
    global _hasher, _DUMMY  # noqa: PLW0603 - one process-wide hasher, swapped only at start-up
    if hasher.type is not Type.ID:
        raise ValueError("passwords are hashed with argon2id")
    _hasher = hasher
    _DUMMY = hasher.hash("a password nobody has")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists, so timing reveals nothing."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
