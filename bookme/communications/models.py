"""The notification outbox, templates and settings (tenant schemas); due work and replies (public).

A notification row is written in the transaction of the booking change that causes it and
sent by a worker after the commit. `public.notification_due` holds one row per notification
that needs a worker at some instant (send it, reconcile a lost attempt, poll its status), so
the dispatcher reads one small index whatever the number of tenants.
`public.notification_recipients` remembers, per channel and address, the latest message sent,
which is how a reply finds its tenant without looking into any tenant schema.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bookme.core.db import Base, created_at, updated_at, uuid_pk

EVENTS = (
    "booking_created",
    "booking_confirmed",
    "booking_rescheduled",
    "booking_cancelled",
    "booking_reminder",
    "payment_receipt",
    "payment_refunded",
)
CHANNELS = ("whatsapp", "sms", "email")
LOCALES = ("fr", "ar", "en")
STATUSES = (
    "scheduled", "queued", "sending", "sent", "delivered", "read", "failed", "cancelled", "skipped",
)  # fmt: skip
DUE_KINDS = ("send", "poll")
REPLY_ACTIONS = ("confirm", "cancel", "stop", "unknown")

DEDUPE = "uq_notifications_dedupe"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Notification(Base):
    """One message to one customer on one channel: the outbox row and its delivery state."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.CheckConstraint(f"event IN {_in(EVENTS)}", name="event"),
        sa.CheckConstraint(f"channel IN {_in(CHANNELS)}", name="channel"),
        sa.CheckConstraint(f"locale IN {_in(LOCALES)}", name="locale"),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.CheckConstraint("channel IS NOT NULL OR status = 'skipped'", name="has_channel"),
        sa.CheckConstraint(
            "(event = 'booking_reminder') = (reminder_offset_minutes IS NOT NULL)",
            name="reminder_offset",
        ),
        sa.CheckConstraint(
            "status <> 'sending' OR claimed_until IS NOT NULL", name="sending_has_lease"
        ),
        # Each (booking, event, channel, reminder offset) goes out once per appointment time
        # and payment or refund: a booking moved to a new time gets its reschedule notice and
        # reminders for that time; a deposit and a balance get a receipt each. A cancelled
        # row (never handed to a provider) does not count.
        sa.Index(
            DEDUPE,
            "booking_id",
            "event",
            "channel",
            "reminder_offset_minutes",
            "appointment_at",
            "reference_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=sa.text("status <> 'cancelled'"),
        ),
        sa.Index("ix_notifications_booking_id_created_at", "booking_id", "created_at"),
        sa.Index("ix_notifications_customer_id_created_at", "customer_id", "created_at"),
        sa.Index("ix_notifications_created_at_id", "created_at", "id"),
        sa.Index(
            "ix_notifications_provider_message_id",
            "provider_message_id",
            unique=True,
            postgresql_where=sa.text("provider_message_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    booking_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("bookings.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str | None] = mapped_column(sa.String(16))  # None: skipped, no channel
    locale: Mapped[str] = mapped_column(sa.String(2))
    to: Mapped[str | None] = mapped_column(sa.String(320))
    status: Mapped[str] = mapped_column(sa.String(16))
    scheduled_for: Mapped[datetime]
    reminder_offset_minutes: Mapped[int | None]
    appointment_at: Mapped[datetime]
    reference_id: Mapped[uuid.UUID | None]  # the payment or refund a receipt is about
    # A claim: the worker holding `sending` until `claimed_until`; `in_doubt_since` stays set
    # while a provider call's outcome is unknown (a crash, a timeout), so the next claim looks
    # the message up at the provider before sending again.
    claimed_until: Mapped[datetime | None]
    in_doubt_since: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.String(64))
    error_detail: Mapped[str | None] = mapped_column(sa.String(500))
    provider: Mapped[str | None] = mapped_column(sa.String(16))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    fallback_of: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


class NotificationTemplate(Base):
    """A tenant's own wording for one event, channel and locale (else the shipped default)."""

    __tablename__ = "notification_templates"
    __table_args__ = (
        sa.CheckConstraint(f"event IN {_in(EVENTS)}", name="event"),
        sa.CheckConstraint(f"channel IN {_in(CHANNELS)}", name="channel"),
        sa.CheckConstraint(f"locale IN {_in(LOCALES)}", name="locale"),
        sa.UniqueConstraint("event", "channel", "locale"),
    )

    id: Mapped[uuid_pk]
    event: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(16))
    locale: Mapped[str] = mapped_column(sa.String(2))
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.String(5000))
    content_sid: Mapped[str | None] = mapped_column(sa.String(64))
    content_variables: Mapped[list[str]] = mapped_column(
        ARRAY(sa.String(40)), server_default=sa.text("'{}'::varchar[]")
    )
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


class NotificationSettings(Base):
    """The tenant's notification preferences: one row, absent until first saved."""

    __tablename__ = "notification_settings"
    __table_args__ = (sa.CheckConstraint("id", name="single_row"),)

    id: Mapped[bool] = mapped_column(primary_key=True, server_default=sa.true())
    channels: Mapped[list[str]] = mapped_column(ARRAY(sa.String(16)))
    reminder_offsets_minutes: Mapped[list[int]] = mapped_column(ARRAY(sa.Integer))
    events: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    sms_sender: Mapped[str | None] = mapped_column(sa.String(32))
    whatsapp_sender: Mapped[str | None] = mapped_column(sa.String(32))
    email_from_name: Mapped[str | None] = mapped_column(sa.String(100))
    updated_at: Mapped[updated_at]


class NotificationReply(Base):
    """An inbound SMS or WhatsApp reply, recorded once by its MessageSid."""

    __tablename__ = "notification_replies"
    __table_args__ = (
        sa.CheckConstraint(f"channel IN {_in(CHANNELS)}", name="channel"),
        sa.CheckConstraint(f"action IN {_in(REPLY_ACTIONS)}", name="action"),
        sa.Index("ix_notification_replies_customer_id_received_at", "customer_id", "received_at"),
    )

    id: Mapped[uuid_pk]
    message_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE")
    )
    booking_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE")
    )
    notification_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="SET NULL")
    )
    body: Mapped[str | None] = mapped_column(sa.String(1600))
    action: Mapped[str] = mapped_column(sa.String(16))
    outcome: Mapped[str] = mapped_column(sa.String(40))
    received_at: Mapped[datetime]


class NotificationDue(Base):
    """Work a worker must do for one notification at `due_at`: send (or reconcile) or poll."""

    __tablename__ = "notification_due"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {_in(DUE_KINDS)}", name="kind"),
        sa.Index("ix_notification_due_due_at", "due_at"),
        {"schema": "public"},
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    due_at: Mapped[datetime]


class NotificationRecipient(Base):
    """The latest message sent to an address on a channel: where its replies belong."""

    __tablename__ = "notification_recipients"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('whatsapp', 'sms')", name="channel"),
        sa.Index("ix_notification_recipients_tenant_id", "tenant_id"),
        {"schema": "public"},
    )

    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE")
    )
    notification_id: Mapped[uuid.UUID]
    sent_at: Mapped[datetime]
