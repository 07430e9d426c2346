"""Global identity in `public`: users, memberships, refresh-token families, one-time tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookme.core.db import Base, created_at, updated_at, uuid_pk
from bookme.tenants.models import Tenant

ROLES = ("owner", "manager", "staff")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.Index("uq_users_email_lower", sa.text("lower(email)"), unique=True),
        {"schema": "public"},
    )

    id: Mapped[uuid_pk]
    email: Mapped[str] = mapped_column(sa.String(320))
    full_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    email_verified_at: Mapped[datetime | None]
    is_operator: Mapped[bool] = mapped_column(server_default=sa.text("false"))
    is_active: Mapped[bool] = mapped_column(server_default=sa.text("true"))
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "user_id"),
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
        {"schema": "public"},
    )

    id: Mapped[uuid_pk]
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[created_at]

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant: Mapped[Tenant] = relationship()


class RefreshToken(Base):
    """One row per issued refresh token; a family is one login's chain of rotations."""

    __tablename__ = "refresh_tokens"
    __table_args__ = {"schema": "public"}

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[created_at]


class TokenRevocation(Base):
    """Revoked access tokens (by jti) and families, kept until they would have expired."""

    __tablename__ = "token_revocations"
    __table_args__ = {"schema": "public"}

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[created_at]


class OneTimeToken(Base):
    """Password-reset and email-verification tokens, stored only as a SHA-256 hash."""

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        sa.CheckConstraint("purpose IN ('password_reset', 'email_verify')", name="purpose"),
        {"schema": "public"},
    )

    token_hash: Mapped[bytes] = mapped_column(BYTEA, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(20))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
