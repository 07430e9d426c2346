"""Customers in each tenant schema: the record, its consent history and its audit trail.

Search runs on indexes: trigrams on the folded (lower, unaccented) name, stored as a generated
column, and on the lower-cased email; a reversed-phone btree so "ends with these digits" is a
range scan.
Uniqueness of phone and email holds among active customers only (not deleted, not erased),
so a soft-deleted or erased record never blocks a new one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from bookme.core.db import Base, created_at, updated_at, uuid_pk

LOCALES = ("fr", "ar", "en")
CHANNELS = ("sms", "whatsapp", "email", "marketing")
CONSENT_SOURCES = ("staff", "public_booking", "reply", "import")
MAX_TAGS = 20
MAX_TAG_LENGTH = 50

ACTIVE = "deleted_at IS NULL AND erased_at IS NULL"
UQ_PHONE = "uq_customers_phone_active"
UQ_EMAIL = "uq_customers_email_active"

_SOURCES_SQL = ", ".join(f"'{s}'" for s in CONSENT_SOURCES)


def _consent_checks() -> list[sa.CheckConstraint]:
    checks = []
    for channel in CHANNELS:
        checks.append(
            sa.CheckConstraint(
                f"consent_{channel}_source IS NULL OR consent_{channel}_source IN ({_SOURCES_SQL})",
                name=f"consent_{channel}_source",
            )
        )
        checks.append(
            sa.CheckConstraint(
                f"(consent_{channel} IS NULL) = (consent_{channel}_changed_at IS NULL)",
                name=f"consent_{channel}_changed_at",
            )
        )
    return checks


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        sa.CheckConstraint("length(full_name) BETWEEN 1 AND 200", name="full_name"),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
        sa.CheckConstraint("locale IN ('fr', 'ar', 'en')", name="locale"),
        sa.CheckConstraint(f"cardinality(tags) <= {MAX_TAGS}", name="tags_count"),
        sa.CheckConstraint(
            "erased_at IS NULL OR (phone IS NULL AND email IS NULL AND notes IS NULL)",
            name="erased_has_no_contact",
        ),
        *_consent_checks(),
        sa.Index(UQ_PHONE, "phone", unique=True, postgresql_where=sa.text(ACTIVE)),
        sa.Index(UQ_EMAIL, sa.text("lower(email)"), unique=True, postgresql_where=sa.text(ACTIVE)),
        sa.Index("ix_customers_name_sort", "search_name", "id", postgresql_where=sa.text(ACTIVE)),
        sa.Index(
            "ix_customers_name_trgm",
            sa.text("search_name public.gin_trgm_ops"),
            postgresql_using="gin",
            postgresql_where=sa.text(ACTIVE),
        ),
        sa.Index(
            "ix_customers_email_trgm",
            sa.text("lower(email) public.gin_trgm_ops"),
            postgresql_using="gin",
            postgresql_where=sa.text(ACTIVE),
        ),
        sa.Index(
            "ix_customers_phone_suffix",
            sa.text('reverse(phone) COLLATE "C"'),
            postgresql_where=sa.text(ACTIVE),
        ),
        sa.Index(
            "ix_customers_tags", "tags", postgresql_using="gin", postgresql_where=sa.text(ACTIVE)
        ),
    )

    id: Mapped[uuid_pk]
    full_name: Mapped[str] = mapped_column(sa.String(200))
    # The name folded (lower case, no accents) once, when written: searches and the sort read
    # it instead of folding every candidate row. "C" makes the sort a plain code-point order
    # that the btree serves, prefix ranges included.
    search_name: Mapped[str] = mapped_column(
        sa.Text(collation="C"), sa.Computed("public.bookme_fold(full_name)", persisted=True)
    )
    phone: Mapped[str | None] = mapped_column(sa.String(16))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    locale: Mapped[str] = mapped_column(sa.String(2), server_default="fr")
    tags: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'::text[]"))
    notes: Mapped[str | None] = mapped_column(sa.String(5000))

    consent_sms: Mapped[bool | None]
    consent_sms_changed_at: Mapped[datetime | None]
    consent_sms_source: Mapped[str | None] = mapped_column(sa.String(20))
    consent_whatsapp: Mapped[bool | None]
    consent_whatsapp_changed_at: Mapped[datetime | None]
    consent_whatsapp_source: Mapped[str | None] = mapped_column(sa.String(20))
    consent_email: Mapped[bool | None]
    consent_email_changed_at: Mapped[datetime | None]
    consent_email_source: Mapped[str | None] = mapped_column(sa.String(20))
    consent_marketing: Mapped[bool | None]
    consent_marketing_changed_at: Mapped[datetime | None]
    consent_marketing_source: Mapped[str | None] = mapped_column(sa.String(20))

    deleted_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]

    # Filled by the list and detail queries when the bookings module provides history stats.
    visit_count: Mapped[int | None] = query_expression()
    no_show_count: Mapped[int | None] = query_expression()
    last_visit_at: Mapped[datetime | None] = query_expression()

    @property
    def is_active(self) -> bool:
        return self.deleted_at is None and self.erased_at is None

    @property
    def consents(self) -> dict[str, dict[str, Any]]:
        return {
            channel: {
                "granted": getattr(self, f"consent_{channel}"),
                "changed_at": getattr(self, f"consent_{channel}_changed_at"),
                "source": getattr(self, f"consent_{channel}_source"),
            }
            for channel in CHANNELS
        }


class ConsentEvent(Base):
    """One change of one consent: what a regulator asks to see, oldest first."""

    __tablename__ = "customer_consent_events"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('sms', 'whatsapp', 'email', 'marketing')", name="channel"),
        sa.CheckConstraint(f"source IN ({_SOURCES_SQL})", name="source"),
        sa.Index("ix_customer_consent_events_customer", "customer_id", "changed_at", "id"),
    )

    # A sequence, not a UUID: changes recorded at the same instant keep their order.
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=False), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(sa.String(20))
    granted: Mapped[bool | None]
    source: Mapped[str] = mapped_column(sa.String(20))
    changed_at: Mapped[datetime]
    # Who recorded it: a staff user's label, "customer" or "system". `evidence` may hold
    # personal data (the reply text, the address it came from) and is cleared on erasure.
    actor: Mapped[str] = mapped_column(sa.String(400))
    actor_user_id: Mapped[uuid.UUID | None]
    evidence: Mapped[str | None] = mapped_column(sa.String(1000))


class CustomerEvent(Base):
    """The customer's audit trail: created, updated, deleted, exported, erased.

    Holds no personal data about the customer (field names, not values), so erasure keeps it.
    """

    __tablename__ = "customer_events"
    __table_args__ = (
        sa.CheckConstraint(
            "type IN ('created', 'updated', 'deleted', 'exported', 'erased')", name="type"
        ),
        sa.Index("ix_customer_events_customer", "customer_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=False), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str] = mapped_column(sa.String(400))
    actor_user_id: Mapped[uuid.UUID | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime]
