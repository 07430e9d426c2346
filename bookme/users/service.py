"""Account use cases: registration, sign-in and token rotation, password reset, email
verification, /me, tenant members and platform operators."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_smorest.pagination import PaginationParameters
from sqlalchemy.orm import contains_eager

from bookme.core import crypto, errors, tenancy
from bookme.core.api import paginate
from bookme.core.db import session, transactional
from bookme.tenants.models import Tenant
from bookme.users import mail, tokens
from bookme.users.access import Actor
from bookme.users.models import Membership, OneTimeToken, RefreshToken, User
from bookme.users.passwords import hash_password, needs_rehash, verify_password
from bookme.users.tasks import send_email_after_commit

VERIFY_EMAIL_TTL = timedelta(hours=48)
PASSWORD_RESET_TTL = timedelta(hours=1)
# The account emails' language when the caller names none (the CLI): bookme.admin.i18n's default,
# not imported from there since the admin package imports this module.
EMAIL_LANGUAGE = "fr"

LOGIN_FAILED = "Incorrect email or password."
REFRESH_REFUSED = "This refresh token is no longer valid; sign in again."
TOKEN_INVALID = "This token is invalid or has already been used."  # noqa: S105
TOKEN_EXPIRED = "This token has expired; ask for a new one."  # noqa: S105
LAST_OWNER = "A business needs at least one owner: make someone else owner first."

errors.on_constraint(
    "uq_users_email_lower", lambda: errors.EmailTaken("An account already uses this email.")
)
errors.on_constraint(
    "uq_memberships_tenant_id_user_id",
    lambda: errors.Conflict("This user is already a member of this business."),
)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _user_by_email(email: str) -> User | None:
    return session().scalar(
        sa.select(User).where(sa.func.lower(User.email) == normalise_email(email))
    )


def _settings() -> Any:
    return current_app.config["BOOKME"]


# --- one-time tokens (stored as SHA-256; the raw token only travels in the email) -----------


def _issue_one_time_token(user_id: uuid.UUID, purpose: str, ttl: timedelta, now: datetime) -> str:
    raw = crypto.new_token(32)  # 256 bits
    session().add(
        OneTimeToken(
            token_hash=crypto.token_hash(raw),
            user_id=user_id,
            purpose=purpose,
            expires_at=now + ttl,
        )
    )
    return raw


def _consume_one_time_token(raw: str, purpose: str, now: datetime) -> User:
    row = session().scalar(
        sa.select(OneTimeToken)
        .where(OneTimeToken.token_hash == crypto.token_hash(raw), OneTimeToken.purpose == purpose)
        .with_for_update()
    )
    if row is None or row.used_at is not None:
        raise errors.validation_error({"token": [TOKEN_INVALID]})
    if row.expires_at <= now:
        raise errors.validation_error({"token": [TOKEN_EXPIRED]})
    user = session().get(User, row.user_id)
    if user is None or not user.is_active:
        raise errors.validation_error({"token": [TOKEN_INVALID]})
    row.used_at = now
    return user


def _link(path: str, raw: str, language: str) -> str:
    """The account page, opened in the email's language."""
    return f"{_settings().public_base_url}{path}?token={raw}&lang={language}"


def _send_verification(user: User, now: datetime, language: str) -> None:
    raw = _issue_one_time_token(user.id, "email_verify", VERIFY_EMAIL_TTL, now)
    send_email_after_commit(
        mail.verification_email(
            to=user.email,
            name=user.full_name,
            link=_link("/account/verify-email", raw, language),
            valid_hours=int(VERIFY_EMAIL_TTL.total_seconds() // 3600),
            language=language,
        )
    )


# --- registration and sign-in ----------------------------------------------------------------


@transactional
def register(
    *,
    email: str,
    password: str,
    full_name: str,
    now: datetime,
    language: str = EMAIL_LANGUAGE,
) -> User:
    """Create an account and email it a verification link, written in `language`."""
    # Uniqueness is the database's (uq_users_email_lower), so a race cannot slip through.
    user = User(
        email=normalise_email(email), full_name=full_name, password_hash=hash_password(password)
    )
    session().add(user)
    session().flush()
    _send_verification(user, now, language)
    return user


@transactional
def authenticate(*, email: str, password: str, now: datetime) -> User:
    """The active user with these credentials, or 401 with one message whatever went wrong.

    The API's login and the admin's session sign-in both start here.
    """
    user = _user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise errors.Unauthorized(LOGIN_FAILED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


@transactional
def login(*, email: str, password: str, now: datetime) -> dict[str, Any]:
    """A new token pair (a new family), or 401 with one message whatever went wrong."""
    return tokens.issue_tokens(authenticate(email=email, password=password, now=now))


def refresh_session(
    *, user_id: uuid.UUID, jti: str, family_id: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    """Rotate a refresh token; presenting one that was already used revokes its family.

    The revocation commits before the 401 is raised, so a replayed token (stolen or raced)
    signs the whole chain out, the legitimate holder included.
    """
    pair = _rotate(user_id=user_id, jti=jti, family_id=family_id, now=now)
    if pair is None:
        raise errors.Unauthorized(REFRESH_REFUSED)
    return pair


@transactional
def _rotate(
    *, user_id: uuid.UUID, jti: str, family_id: uuid.UUID | None, now: datetime
) -> dict[str, Any] | None:
    row = session().scalar(sa.select(RefreshToken).where(RefreshToken.jti == jti).with_for_update())
    if row is None or row.user_id != user_id:
        # Correctly signed yet unknown: treat like a replay.
        if family_id is not None:
            tokens.revoke_family(family_id, now)
        return None
    if row.used_at is not None or row.revoked_at is not None:
        tokens.revoke_family(row.family_id, now)
        return None
    user = session().get(User, user_id)
    if user is None or not user.is_active:
        return None
    row.used_at = now
    return tokens.issue_tokens(user, family_id=row.family_id)


@transactional
def logout(*, jti: str, family_id: uuid.UUID | None, expires_at: datetime, now: datetime) -> None:
    """Revoke the presented access token and the sign-in (refresh family) it belongs to."""
    tokens.revoke_token(jti, expires_at)
    if family_id is not None:
        tokens.revoke_family(family_id, now)


# --- password reset and email verification ---------------------------------------------------


@transactional
def request_password_reset(*, email: str, now: datetime, language: str = EMAIL_LANGUAGE) -> None:
    """Email a reset link (in `language`) when an active account has this address; say nothing
    either way."""
    user = _user_by_email(email)
    if user is None or not user.is_active:
        return
    raw = _issue_one_time_token(user.id, "password_reset", PASSWORD_RESET_TTL, now)
    send_email_after_commit(
        mail.password_reset_email(
            to=user.email,
            name=user.full_name,
            link=_link("/account/reset-password", raw, language),
            valid_minutes=int(PASSWORD_RESET_TTL.total_seconds() // 60),
            language=language,
        )
    )


@transactional
def reset_password(*, token: str, password: str, now: datetime) -> None:
    """Set a new password with a reset token; every sign-in of the account is revoked."""
    user = _consume_one_time_token(token, "password_reset", now)
    user.password_hash = hash_password(password)
    if user.email_verified_at is None:
        user.email_verified_at = now  # the link reached the mailbox: that proves it
    session().execute(
        sa.update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == "password_reset",
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    tokens.revoke_user_families(user.id, now)


@transactional
def verify_email(*, token: str, now: datetime) -> None:
    user = _consume_one_time_token(token, "email_verify", now)
    if user.email_verified_at is None:
        user.email_verified_at = now


@transactional
def resend_verification(*, actor: Actor, now: datetime, language: str = EMAIL_LANGUAGE) -> None:
    """A fresh verification link (in `language`) for a signed-in user whose email is not
    verified yet."""
    user = session().get(User, actor.user_id)
    if user is None or user.email_verified_at is not None:
        return
    _send_verification(user, now, language)


@dataclass(frozen=True)
class Profile:
    """/me: the user and their memberships, ordered by business name."""

    id: uuid.UUID
    email: str
    full_name: str
    email_verified_at: datetime | None
    created_at: datetime
    memberships: list[Membership]


def get_profile(*, actor: Actor) -> Profile:
    user = session().get(User, actor.user_id)
    if user is None:
        raise errors.Unauthorized("A valid access token is required.")
    memberships = (
        session()
        .scalars(
            sa.select(Membership)
            .join(Membership.tenant)
            .options(contains_eager(Membership.tenant))
            .where(Membership.user_id == user.id)
            .order_by(sa.func.lower(Tenant.name), Tenant.slug)
        )
        .all()
    )
    return Profile(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        email_verified_at=user.email_verified_at,
        created_at=user.created_at,
        memberships=list(memberships),
    )


# --- members of a tenant ---------------------------------------------------------------------


_ROLE_RANK = sa.case({"owner": 0, "manager": 1, "staff": 2}, value=Membership.role, else_=3)


def list_members(
    *, tenant: tenancy.TenantRef, pagination: PaginationParameters
) -> list[Membership]:
    stmt = (
        sa.select(Membership)
        .join(Membership.user)
        .options(contains_eager(Membership.user))
        .where(Membership.tenant_id == tenant.id)
        .order_by(_ROLE_RANK, sa.func.lower(User.full_name), Membership.user_id)
    )
    return paginate(stmt, pagination)


def _lock_owners(tenant: tenancy.TenantRef) -> set[uuid.UUID]:
    """Lock the tenant's owner rows (always in id order) so owner changes serialise."""
    return set(
        session().scalars(
            sa.select(Membership.user_id)
            .where(Membership.tenant_id == tenant.id, Membership.role == "owner")
            .order_by(Membership.id)
            .with_for_update()
        )
    )


def get_member(*, tenant: tenancy.TenantRef, user_id: uuid.UUID) -> Membership:
    """One member of this business (404 otherwise)."""
    membership = session().scalar(
        sa.select(Membership)
        .join(Membership.user)
        .options(contains_eager(Membership.user))
        .where(Membership.tenant_id == tenant.id, Membership.user_id == user_id)
    )
    if membership is None:
        raise errors.NotFound("No such member in this business.")
    return membership


def _member(tenant: tenancy.TenantRef, user_id: uuid.UUID) -> Membership:
    membership = session().scalar(
        sa.select(Membership)
        .join(Membership.user)
        .options(contains_eager(Membership.user))
        .where(Membership.tenant_id == tenant.id, Membership.user_id == user_id)
        .with_for_update(of=Membership)
    )
    if membership is None:
        raise errors.NotFound("No such member in this business.")
    return membership


@transactional
def add_member(*, tenant: tenancy.TenantRef, actor: Actor, email: str, role: str) -> Membership:
    """Give an existing account a role in this business."""
    user = _user_by_email(email)
    if user is None or not user.is_active:
        raise errors.validation_error(
            {"email": ["No BookMe account uses this email; ask them to register first."]}
        )
    # A second membership hits uq_memberships_tenant_id_user_id: 409 conflict.
    membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role, user=user)
    session().add(membership)
    session().flush()
    return membership


@transactional
def change_member_role(
    *, tenant: tenancy.TenantRef, actor: Actor, user_id: uuid.UUID, role: str
) -> Membership:
    owners = _lock_owners(tenant)
    membership = _member(tenant, user_id)
    if membership.role == "owner" and role != "owner" and not owners - {user_id}:
        raise errors.Conflict(LAST_OWNER)
    membership.role = role
    return membership


@transactional
def remove_member(*, tenant: tenancy.TenantRef, actor: Actor, user_id: uuid.UUID) -> None:
    owners = _lock_owners(tenant)
    membership = _member(tenant, user_id)
    if membership.role == "owner" and not owners - {user_id}:
        raise errors.Conflict(LAST_OWNER)
    session().delete(membership)


# --- platform operators ----------------------------------------------------------------------


@transactional
def set_operator(*, email: str, is_operator: bool = True) -> User:
    """Grant (or withdraw) platform-operator rights: suspending and activating tenants."""
    user = _user_by_email(email)
    if user is None:
        raise errors.NotFound(f"No account uses {normalise_email(email)!r}.")
    user.is_operator = is_operator
    return user
