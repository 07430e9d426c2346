"""Global tenant records in `public`: tenants, their domains and lifecycle events."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookme.core.db import Base, created_at, updated_at, uuid_pk

TENANT_STATUSES = ("active", "suspended")


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        sa.CheckConstraint(
            "slug ~ '^[a-z][a-z0-9-]{2,62}$'", name="slug_format"
        ),
        sa.CheckConstraint(f"status IN {TENANT_STATUSES}", name="status"),
        sa.CheckConstraint("schema_name ~ '^tenant_[0-9a-f]{32}$'", name="schema_name_format"),
        {"schema": "public"},
    )

    id: Mapped[uuid_pk]
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), server_default="Africa/Casablanca")
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="MAD")
    locale: Mapped[str] = mapped_column(sa.String(8), server_default="fr")
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    schema_name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    schema_revision: Mapped[str | None] = mapped_column(sa.String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]

    domains: Mapped[list[TenantDomain]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", order_by="TenantDomain.domain"
    )


class TenantDomain(Base):
    __tablename__ = "tenant_domains"
    __table_args__ = (
        sa.CheckConstraint("domain = lower(domain)", name="domain_lowercase"),
        {"schema": "public"},
    )

    id: Mapped[uuid_pk]
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(sa.String(253), unique=True)
    created_at: Mapped[created_at]

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class TenantEvent(Base):
    """Lifecycle history: created, suspended, activated, settings changed, deleted."""

    __tablename__ = "tenant_events"
    __table_args__ = {"schema": "public"}

    id: Mapped[uuid_pk]
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str | None] = mapped_column(sa.String(320))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[created_at]


class SpareSchema(Base):
    """A tenant schema built ahead of time at `revision`: provisioning claims one and renames it.

    Building a schema is the slow part of signing a business up (tens of DDL statements); the
    periodic top-up and `flask db upgrade` keep a few ready, so a signup costs one rename.
    """

    __tablename__ = "spare_schemas"
    __table_args__ = (
        sa.CheckConstraint("schema_name ~ '^spare_[0-9a-f]{32}$'", name="schema_name_format"),
        {"schema": "public"},
    )

    schema_name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    revision: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[created_at]
