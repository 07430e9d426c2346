"""Bookings in each tenant schema, their audit trail, idempotency keys; the public token index.

An active booking (pending or confirmed) blocks `blocked` = [starts_at - buffer_before,
ends_at + buffer_after), copied from the service when written so later service edits never
move existing bookings; `ex_bookings_no_overlap` makes two overlapping active bookings of one
staff member impossible, whatever the application does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import Mapped, mapped_column

from bookme.core.db import Base, created_at, updated_at, uuid_pk

STATUSES = ("pending", "confirmed", "cancelled", "completed", "no_show")
ACTIVE_STATUSES = ("pending", "confirmed")
SOURCES = ("admin", "api", "public")
PAYMENT_STATUSES = ("none", "unpaid", "deposit_paid", "paid", "refunded")
EVENT_TYPES = (
    "created", "confirmed", "rescheduled", "cancelled", "completed", "no_show",
)  # fmt: skip

NO_OVERLAP = "ex_bookings_no_overlap"
REACH_BEFORE = "4 hours"  # services.buffer_before_minutes <= 240
REACH_AFTER = "16 hours"  # services.duration_minutes <= 720, buffer_after_minutes <= 240
ACTIVE_SQL = "status IN ('pending', 'confirmed')"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        sa.CheckConstraint(f"source IN {_in(SOURCES)}", name="source"),
        sa.CheckConstraint(f"payment_status IN {_in(PAYMENT_STATUSES)}", name="payment_status"),
        sa.CheckConstraint("starts_at < ends_at", name="period"),
        sa.CheckConstraint(
            "NOT isempty(blocked) AND blocked @> tstzrange(starts_at, ends_at)", name="blocked"
        ),
        # How far a booking may block around its start: 4 hours before (the longest buffer),
        # 16 hours after (the longest duration plus buffer), as the services' limits allow.
        # sql/availability.sql relies on it to look bookings up by (staff_id, starts_at).
        sa.CheckConstraint(
            f"lower(blocked) >= starts_at - interval '{REACH_BEFORE}'"
            f" AND upper(blocked) <= starts_at + interval '{REACH_AFTER}'",
            name="reach",
        ),
        sa.CheckConstraint("price >= 0 AND amount_paid >= 0", name="money"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        sa.CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_at"
        ),
        ExcludeConstraint(
            ("staff_id", "="),
            ("blocked", "&&"),
            name=NO_OVERLAP,
            using="gist",
            where=sa.text(ACTIVE_SQL),
        ),
        sa.Index("ix_bookings_starts_at", "starts_at", "id"),
        sa.Index("ix_bookings_staff_id_starts_at", "staff_id", "starts_at"),
        sa.Index("ix_bookings_customer_id_starts_at", "customer_id", "starts_at"),
        sa.Index("ix_bookings_service_id_starts_at", "service_id", "starts_at"),
        sa.Index(
            "ix_bookings_hold_expiry",
            "payment_due_at",
            postgresql_where=sa.text("status = 'pending' AND payment_due_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    service_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("services.id", ondelete="RESTRICT"))
    staff_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("staff.id", ondelete="RESTRICT"))
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="RESTRICT")
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocked: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    status: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    notes: Mapped[str | None] = mapped_column(sa.String(2000))
    cancellation_reason: Mapped[str | None] = mapped_column(sa.String(500))
    cancelled_at: Mapped[datetime | None]
    payment_status: Mapped[str] = mapped_column(sa.String(16), server_default="none")
    amount_paid: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), server_default="0")
    payment_due_at: Mapped[datetime | None]
    # Unique through `public.manage_tokens` (its primary key), which is also how it is looked up.
    manage_token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    manage_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def amount_due(self) -> Decimal:
        return max(self.price - self.amount_paid, Decimal("0.00"))


class BookingEvent(Base):
    """The audit trail of one booking, written in the transaction of the change it records."""

    __tablename__ = "booking_events"
    __table_args__ = (sa.Index("ix_booking_events_booking_id_id", "booking_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=False), primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(40))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[created_at]


class IdempotencyKey(Base):
    """A claimed Idempotency-Key: in progress under a lease, then the stored first response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.CheckConstraint("state IN ('in_progress', 'done')", name="state"),
        sa.CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
        sa.CheckConstraint(
            "(state = 'done') = (response_status IS NOT NULL)", name="done_has_response"
        ),
        sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    scope: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    state: Mapped[str] = mapped_column(sa.String(16))
    claim: Mapped[uuid.UUID]
    locked_until: Mapped[datetime]
    response_status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    response_body: Mapped[str | None] = mapped_column(sa.Text)  # the exact bytes sent
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ManageToken(Base):
    """Every booking's manage-token hash, across tenants: how a manage link finds its tenant."""

    __tablename__ = "manage_tokens"
    __table_args__ = (
        sa.Index("ix_manage_tokens_tenant_id_booking_id", "tenant_id", "booking_id", unique=True),
        {"schema": "public"},
    )

    token_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE")
    )
    booking_id: Mapped[uuid.UUID]
    created_at: Mapped[created_at]
