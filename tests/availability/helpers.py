"""Availability test helpers: bookings written with plain SQL, the tenant's time zone."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bookme.core.db import session
from tests.factories import use_tenant

_CUSTOMER = sa.text("INSERT INTO customers (full_name) VALUES ('Availability Test') RETURNING id")
_BOOKING = sa.text(
    """
    INSERT INTO bookings (id, service_id, staff_id, customer_id, starts_at, ends_at, blocked,
                          status, source, price, currency, cancelled_at, payment_due_at,
                          manage_token_hash, manage_token_encrypted)
    VALUES (:id, :service_id, :staff_id, :customer_id, :starts_at, :ends_at,
            tstzrange(:blocked_from, :blocked_to), :status, 'admin', 0, 'MAD', :cancelled_at,
            :payment_due_at, :token_hash, 'not-a-real-token')
    """
)


def customer_id() -> uuid.UUID:
    return session().execute(_CUSTOMER).scalar_one()


def insert_booking(
    *,
    service_id: uuid.UUID,
    staff_id: uuid.UUID,
    customer: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    blocked: tuple[datetime, datetime] | None = None,
    status: str = "confirmed",
    payment_due_at: datetime | None = None,
    booking_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A bookings row as the write path would leave it (the blocked range is given, not derived)."""
    booking_id = booking_id or uuid.uuid4()
    lower, upper = blocked or (starts_at, ends_at)
    session().execute(
        _BOOKING,
        {
            "id": booking_id,
            "service_id": service_id,
            "staff_id": staff_id,
            "customer_id": customer,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "blocked_from": lower,
            "blocked_to": upper,
            "status": status,
            "cancelled_at": starts_at if status == "cancelled" else None,
            "payment_due_at": payment_due_at,
            "token_hash": hashlib.sha256(booking_id.bytes).digest(),
        },
    )
    return booking_id


def set_timezone(tenant: Any, zone: str) -> Any:
    """Move the tenant to `zone` and return its fresh, active TenantRef."""
    session().execute(
        sa.text("UPDATE public.tenants SET timezone = :tz WHERE slug = :slug"),
        {"tz": zone, "slug": tenant.slug},
    )
    return use_tenant(tenant.slug)
