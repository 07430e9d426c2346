"""JWT pairs: short-lived access tokens, rotating refresh tokens grouped in families."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token

from bookme.core.clock import now
from bookme.core.db import session
from bookme.users.models import RefreshToken, User


def issue_tokens(user: User, family_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A new access + refresh pair; the refresh token is recorded so it can rotate once."""
    family = family_id or uuid.uuid4()
    claims = {"fam": str(family)}
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims)
    decoded = decode_token(refresh)
    settings = current_app.config["BOOKME"]
    session().add(
        RefreshToken(
            jti=decoded["jti"],
            family_id=family,
            user_id=user.id,
            expires_at=now() + timedelta(days=settings.refresh_token_days),
        )
    )
    session().flush()
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
    }
