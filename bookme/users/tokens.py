"""JWT pairs: short-lived access tokens, rotating refresh tokens grouped in families.

A family is one sign-in's chain of refresh rotations; every token of it (access and refresh)
carries the family id in its `fam` claim. Revoking a family is one row in
`public.token_revocations` keyed `family:<id>`, so the blocklist check is one indexed lookup
per request and covers access tokens already handed out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token, decode_token
from sqlalchemy.dialects.postgresql import insert

from bookme.core import errors
from bookme.core.clock import now
from bookme.core.db import session
from bookme.users.models import RefreshToken, TokenRevocation, User

FAMILY_PREFIX = "family:"


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
            expires_at=max(
                now() + timedelta(days=settings.refresh_token_days),
                datetime.fromtimestamp(decoded["exp"], UTC),
            ),
        )
    )
    session().flush()
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": settings.access_token_minutes * 60,
    }


def family_key(family_id: uuid.UUID | str) -> str:
    return f"{FAMILY_PREFIX}{family_id}"


def revocation_keys(claims: dict[str, Any]) -> list[str]:
    """The `public.token_revocations` keys that refuse this token: its jti and its family."""
    keys = [str(claims.get("jti", ""))]
    if claims.get("fam"):
        keys.append(family_key(str(claims["fam"])))
    return keys


def is_revoked(claims: dict[str, Any]) -> bool:
    """The token's own jti or its family is in `public.token_revocations`."""
    keys = revocation_keys(claims)
    found = (
        session()
        .execute(sa.select(TokenRevocation.jti).where(TokenRevocation.jti.in_(keys)).limit(1))
        .first()
    )
    return found is not None


def _record_revocation(key: str, expires_at: datetime) -> None:
    stmt = insert(TokenRevocation).values(jti=key, expires_at=expires_at)
    session().execute(
        stmt.on_conflict_do_update(
            index_elements=[TokenRevocation.jti],
            set_={
                "expires_at": sa.func.greatest(TokenRevocation.expires_at, stmt.excluded.expires_at)
            },
        )
    )


def revoke_token(jti: str, expires_at: datetime) -> None:
    """Refuse one token (by jti) until it would have expired anyway."""
    _record_revocation(jti, expires_at)


def revoke_family(family_id: uuid.UUID, at: datetime) -> None:
    """Refuse every token of a sign-in: its refresh tokens and the access tokens they minted."""
    settings = current_app.config["BOOKME"]
    latest = session().scalar(
        sa.select(sa.func.max(RefreshToken.expires_at)).where(RefreshToken.family_id == family_id)
    )
    floor = at + timedelta(days=settings.refresh_token_days)
    _record_revocation(family_key(family_id), max(latest, floor) if latest else floor)
    session().execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def revoke_user_families(user_id: uuid.UUID, at: datetime) -> int:
    """Sign a user out everywhere (password reset): every family still alive is revoked."""
    families = (
        session()
        .scalars(
            sa.select(RefreshToken.family_id)
            .where(
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > at,
            )
            .distinct()
        )
        .all()
    )
    for family in families:
        revoke_family(family, at)
    return len(families)


def purge_expired(at: datetime) -> dict[str, int]:
    """Forget revocations and refresh records of tokens that have expired anyway."""
    sess = session()
    revocations = sess.execute(sa.delete(TokenRevocation).where(TokenRevocation.expires_at < at))
    refresh = sess.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at < at))
    return {
        "token_revocations": revocations.rowcount or 0,
        "refresh_tokens": refresh.rowcount or 0,
    }


# --- flask-jwt-extended callbacks -------------------------------------------------------------


def _unauthorized(*_: Any) -> Response:
    return errors.render(errors.Unauthorized("A valid access token is required."))


def register_callbacks(manager: JWTManager) -> None:
    """Blocklist check and problem+json 401s for every token failure flask-jwt-extended sees."""

    @manager.token_in_blocklist_loader
    def _in_blocklist(jwt_header: dict[str, Any], jwt_payload: dict[str, Any]) -> bool:
        # `access.member` asks in the same query as the caller's membership.
        if g.get("bookme_revocation_deferred"):
            return False
        return is_revoked(jwt_payload)

    for loader in (
        manager.expired_token_loader,
        manager.invalid_token_loader,
        manager.unauthorized_loader,
        manager.revoked_token_loader,
        manager.needs_fresh_token_loader,
        manager.token_verification_failed_loader,
        manager.user_lookup_error_loader,
    ):
        loader(_unauthorized)
