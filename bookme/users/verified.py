"""A JWTManager that verifies each token string once per process, not on every request.

flask-jwt-extended reads a token four times per request (its claims and header unverified,
then verified, then the header again), and PyJWT checks every character of every segment in
Python: about 0.3 ms of CPU per request, a tenth of a booking's. A token is immutable, so
once a string has passed full verification under this app's key, its claims and header are
kept by the exact string; a later request with the same string only has its expiry checked
again. Revocation is never cached (it is asked for on every request, see `access.member`); a
token that differs in any byte is a different key and goes through full verification.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from flask import current_app
from flask_jwt_extended import JWTManager, view_decorators
from flask_jwt_extended.config import config
from flask_jwt_extended.utils import get_unverified_jwt_headers as _read_headers

_CACHE = "bookme_verified_tokens"
MAX_ENTRIES = 4096


class CachingJWTManager(JWTManager):
    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: Any = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        # Per app: tests (and any embedding) may run apps with different keys side by side.
        cache: dict[str, tuple[dict[str, Any], dict[str, Any]]]
        cache = current_app.extensions.setdefault(_CACHE, {})
        known = cache.get(encoded_token)
        if known is not None and known[0].get("exp", 0) > time.time() - config.leeway:
            return dict(known[0])
        claims = super()._decode_jwt_from_config(encoded_token)  # raises unless valid now
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[encoded_token] = (dict(claims), jwt.get_unverified_header(encoded_token))
        return claims


def _unverified_headers(encoded_token: str) -> dict[str, Any]:
    """The header of a token this app has verified, from the cache; any other token's is
    read as flask-jwt-extended reads it (after its claims were verified, in both cases)."""
    known = current_app.extensions.get(_CACHE, {}).get(encoded_token)
    if known is not None:
        return dict(known[1])
    return _read_headers(encoded_token)


# flask-jwt-extended asks for the header once more per request, after verifying the token,
# through the name it imported into `view_decorators`; that one call is answered here.
view_decorators.get_unverified_jwt_headers = _unverified_headers
