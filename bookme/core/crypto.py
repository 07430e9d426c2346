"""Secrets at rest: MultiFernet over BOOKME_ENCRYPTION_KEYS (newest first, so keys rotate)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _keys() -> list[bytes]:
    settings = current_app.config["BOOKME"]
    if settings.encryption_keys:
        return [k.encode() for k in settings.encryption_keys]
    if settings.is_production:
        raise RuntimeError("BOOKME_ENCRYPTION_KEYS is required in production")
    # Development and tests without keys: a key derived from SECRET_KEY, never in production.
    return [base64.urlsafe_b64encode(hashlib.sha256(settings.secret_key.encode()).digest())]


def _fernet() -> MultiFernet:
    """The app's cipher, built once per app (its keys are settings, fixed at start)."""
    cipher: MultiFernet | None = current_app.extensions.get("bookme.fernet")
    if cipher is None:
        cipher = MultiFernet([Fernet(key) for key in _keys()])
        current_app.extensions["bookme.fernet"] = cipher
    return cipher


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    return _fernet().rotate(token.encode()).decode()


def new_token(nbytes: int = 24) -> str:
    """A URL-safe random token (default 192 bits)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
