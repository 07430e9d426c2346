"""Payments, refunds, invoices, provider webhook events and payment settings (tenant schema).

Amounts are integer minor units (`amount` 15000 = "150.00"), always in the tenant's currency;
a PayPal payment of a MAD business also keeps what was charged in EUR or USD
(`charged_amount`, `charged_currency`, `exchange_rate`). Invoices and credit notes are
immutable: a trigger refuses UPDATE and DELETE on them (see the t0005 migration).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from bookme.core.db import Base, created_at, uuid_pk

PROVIDERS = ("stripe", "paypal", "cash")
ONLINE_PROVIDERS = ("stripe", "paypal")
KINDS = ("deposit", "balance", "full")
STATUSES = (
    "requires_payment", "processing", "succeeded", "failed", "cancelled",
    "partially_refunded", "refunded",
)  # fmt: skip
OPEN_STATUSES = ("requires_payment", "processing")
PAID_STATUSES = ("succeeded", "partially_refunded", "refunded")
REFUND_STATUSES = ("pending", "succeeded", "failed")
REFUND_ORIGINS = ("manual", "policy", "late_payment", "provider")
INVOICE_KINDS = ("invoice", "credit_note")
WEBHOOK_PROVIDERS = ("stripe", "paypal")

ONE_OPEN_PER_BOOKING = "uq_payments_open_booking"
WEBHOOK_SEEN = "uq_payment_webhook_events_provider_event_id"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class PaymentSettings(Base):
    """The business's payment configuration: one row (id = 1); secrets encrypted at rest."""

    __tablename__ = "payment_settings"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("hold_minutes BETWEEN 1 AND 1440", name="hold_minutes"),
        sa.CheckConstraint("full_refund_hours_before >= 0", name="full_refund_hours"),
        sa.CheckConstraint("tax_rate >= 0 AND tax_rate < 100", name="tax_rate"),
        sa.CheckConstraint(
            "paypal_currency IS NULL OR paypal_currency ~ '^[A-Z]{3}$'", name="paypal_currency"
        ),
        sa.CheckConstraint("paypal_rate IS NULL OR paypal_rate > 0", name="paypal_rate"),
    )

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, server_default="1")
    stripe_secret_key: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    stripe_secret_key_last4: Mapped[str | None] = mapped_column(sa.String(4))
    stripe_publishable_key: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_webhook_secret: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    paypal_client_id: Mapped[str | None] = mapped_column(sa.String(255))
    paypal_client_secret: Mapped[str | None] = mapped_column(sa.Text)  # encrypted
    paypal_client_secret_last4: Mapped[str | None] = mapped_column(sa.String(4))
    paypal_webhook_id: Mapped[str | None] = mapped_column(sa.String(255))
    paypal_currency: Mapped[str | None] = mapped_column(sa.String(3))
    paypal_rate: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 6))
    hold_minutes: Mapped[int] = mapped_column(server_default="15")
    full_refund_hours_before: Mapped[int] = mapped_column(server_default="24")
    tax_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), server_default="20.00")
    legal_name: Mapped[str | None] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    ice: Mapped[str | None] = mapped_column(sa.String(32))
    tax_id: Mapped[str | None] = mapped_column(sa.String(32))
    trade_register: Mapped[str | None] = mapped_column(sa.String(64))
    invoice_prefix: Mapped[str] = mapped_column(sa.String(20), server_default="")
    updated_at: Mapped[datetime | None]


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint(f"provider IN {_in(PROVIDERS)}", name="provider"),
        sa.CheckConstraint(f"kind IN {_in(KINDS)}", name="kind"),
        sa.CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        sa.CheckConstraint("amount > 0", name="amount"),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount", name="amount_refunded"
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        sa.CheckConstraint(
            "(charged_amount IS NULL) = (charged_currency IS NULL)"
            " AND (charged_amount IS NULL) = (exchange_rate IS NULL)",
            name="charged",
        ),
        sa.CheckConstraint(
            f"(status IN {_in(PAID_STATUSES)}) = (succeeded_at IS NOT NULL)", name="succeeded_at"
        ),
        # At most one online payment open per booking: "pay" returns it instead of a second.
        sa.Index(
            ONE_OPEN_PER_BOOKING,
            "booking_id",
            unique=True,
            postgresql_where=sa.text(f"status IN {_in(OPEN_STATUSES)}"),
        ),
        sa.Index("ix_payments_booking_id", "booking_id"),
        sa.Index("ix_payments_created_at", "created_at", "id"),
        sa.Index(
            "ix_payments_provider_reference",
            "provider",
            "provider_reference",
            unique=True,
            postgresql_where=sa.text("provider_reference IS NOT NULL"),
        ),
        sa.Index(
            "ix_payments_open_expires_at",
            "expires_at",
            postgresql_where=sa.text(f"status IN {_in(OPEN_STATUSES)}"),
        ),
    )

    id: Mapped[uuid_pk]
    booking_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("bookings.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(24))
    amount_refunded: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    provider_reference: Mapped[str | None] = mapped_column(sa.String(255))  # pi_…, order id
    provider_charge: Mapped[str | None] = mapped_column(sa.String(255))  # ch_…, capture id
    client_secret: Mapped[str | None] = mapped_column(sa.Text)  # encrypted (Stripe)
    approval_url: Mapped[str | None] = mapped_column(sa.String(2000))  # PayPal
    charged_amount: Mapped[int | None] = mapped_column(sa.BigInteger)
    charged_currency: Mapped[str | None] = mapped_column(sa.String(3))
    exchange_rate: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 6))
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    expires_at: Mapped[datetime | None]
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]

    @property
    def is_online(self) -> bool:
        return self.provider in ONLINE_PROVIDERS

    @property
    def refundable(self) -> int:
        return self.amount - self.amount_refunded if self.status in PAID_STATUSES else 0


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(REFUND_STATUSES)}", name="status"),
        sa.CheckConstraint(f"origin IN {_in(REFUND_ORIGINS)}", name="origin"),
        sa.CheckConstraint("amount > 0", name="amount"),
        sa.CheckConstraint(
            "(status = 'succeeded') = (succeeded_at IS NOT NULL)", name="succeeded_at"
        ),
        sa.Index("ix_refunds_payment_id", "payment_id", "created_at"),
        sa.Index(
            "ix_refunds_provider_reference",
            "provider_reference",
            unique=True,
            postgresql_where=sa.text("provider_reference IS NOT NULL"),
        ),
        sa.Index(
            "ix_refunds_pending", "created_at", postgresql_where=sa.text("status = 'pending'")
        ),
        sa.Index(
            "uq_refunds_payment_id_request_key",
            "payment_id",
            "request_key",
            unique=True,
            postgresql_where=sa.text("request_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(16))
    origin: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    provider_reference: Mapped[str | None] = mapped_column(sa.String(255))
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    request_key: Mapped[str | None] = mapped_column(sa.String(255))  # Idempotency-Key
    request_fingerprint: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32))
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]


class InvoiceCounter(Base):
    """The last number given per kind and local year; updated inside the issuing transaction."""

    __tablename__ = "invoice_counters"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {_in(INVOICE_KINDS)}", name="kind"),
        sa.CheckConstraint("last > 0", name="last"),
    )

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    year: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    last: Mapped[int]


class Invoice(Base):
    """An invoice (a succeeded payment) or a credit note (a succeeded refund). Never changes."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {_in(INVOICE_KINDS)}", name="kind"),
        sa.CheckConstraint(
            "total > 0 AND tax >= 0 AND total_excl_tax >= 0 AND total_excl_tax + tax = total",
            name="amounts",
        ),
        sa.CheckConstraint("(kind = 'credit_note') = (refund_id IS NOT NULL)", name="refund"),
        sa.UniqueConstraint("kind", "year", "sequence", name="uq_invoices_kind_year_sequence"),
        sa.UniqueConstraint("number", name="uq_invoices_number"),
        sa.Index("ix_invoices_issued_at", "issued_at", "id"),
        sa.Index("ix_invoices_customer_id", "customer_id"),
        sa.Index(
            "uq_invoices_payment_invoice",
            "payment_id",
            unique=True,
            postgresql_where=sa.text("kind = 'invoice'"),
        ),
        sa.Index(
            "uq_invoices_refund",
            "refund_id",
            unique=True,
            postgresql_where=sa.text("refund_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    number: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    year: Mapped[int] = mapped_column(sa.SmallInteger)
    sequence: Mapped[int]
    issued_at: Mapped[datetime]
    booking_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("bookings.id", ondelete="RESTRICT"))
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("payments.id", ondelete="RESTRICT"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("refunds.id", ondelete="RESTRICT")
    )
    customer_id: Mapped[uuid.UUID | None]
    customer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    issuer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    total_excl_tax: Mapped[int] = mapped_column(sa.BigInteger)
    tax: Mapped[int] = mapped_column(sa.BigInteger)
    total: Mapped[int] = mapped_column(sa.BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    locale: Mapped[str] = mapped_column(sa.String(8))
    provider: Mapped[str] = mapped_column(sa.String(16))
    credited_invoice_number: Mapped[str | None] = mapped_column(sa.String(64))


class PaymentWebhookEvent(Base):
    """A provider event, stored once (provider + event id) and then processed by a worker."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        sa.CheckConstraint(f"provider IN {_in(WEBHOOK_PROVIDERS)}", name="provider"),
        sa.UniqueConstraint("provider", "event_id", name=WEBHOOK_SEEN),
        sa.Index(
            "ix_payment_webhook_events_unprocessed",
            "received_at",
            postgresql_where=sa.text("processed_at IS NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    provider: Mapped[str] = mapped_column(sa.String(16))
    event_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default="0")
    outcome: Mapped[str | None] = mapped_column(sa.String(500))
