"""The catalog in each tenant schema: service categories and services."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bookme.core.db import Base, created_at, updated_at, uuid_pk


class ServiceCategory(Base):
    __tablename__ = "service_categories"
    __table_args__ = (
        sa.Index("uq_service_categories_name", sa.text("lower(name)"), unique=True),
        sa.CheckConstraint("position >= 0", name="position"),
    )

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(server_default="0")
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        # Raising these limits means raising the bookings' `ck_bookings_reach` with them.
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration"),
        sa.CheckConstraint("price >= 0", name="price"),
        sa.CheckConstraint("buffer_before_minutes BETWEEN 0 AND 240", name="buffer_before"),
        sa.CheckConstraint("buffer_after_minutes BETWEEN 0 AND 240", name="buffer_after"),
        sa.CheckConstraint("slot_interval_minutes BETWEEN 5 AND 720", name="slot_interval"),
        sa.CheckConstraint("min_notice_minutes >= 0", name="min_notice"),
        sa.CheckConstraint("max_advance_days BETWEEN 1 AND 730", name="max_advance"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
        sa.CheckConstraint("payment_mode IN ('none', 'deposit', 'full')", name="payment_mode"),
        sa.CheckConstraint(
            "(payment_mode = 'deposit') = (num_nonnulls(deposit_amount, deposit_percent) = 1)"
            " AND (deposit_amount IS NULL OR deposit_amount > 0)"
            " AND (deposit_percent IS NULL OR deposit_percent BETWEEN 1 AND 100)",
            name="deposit",
        ),
        # One name per category (case-insensitive); uncategorised services share one namespace.
        # A deleted service's name is free again.
        sa.Index(
            "uq_services_category_name",
            sa.text("coalesce(category_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            sa.text("lower(name)"),
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("service_categories.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.String(5000))
    duration_minutes: Mapped[int]
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    buffer_before_minutes: Mapped[int] = mapped_column(server_default="0")
    buffer_after_minutes: Mapped[int] = mapped_column(server_default="0")
    slot_interval_minutes: Mapped[int] = mapped_column(server_default="15")
    min_notice_minutes: Mapped[int] = mapped_column(server_default="60")
    max_advance_days: Mapped[int] = mapped_column(server_default="60")
    is_active: Mapped[bool] = mapped_column(server_default=sa.text("true"))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    # What a public booking pays online (the payments module): nothing, a deposit, or all of it.
    payment_mode: Mapped[str] = mapped_column(sa.String(16), server_default="none")
    deposit_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    deposit_percent: Mapped[int | None] = mapped_column(sa.SmallInteger)
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]
    # Deleted while past or cancelled bookings still name it: kept for them, gone for the rest
    # (`catalog.delete_or_archive`).
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    category: Mapped[ServiceCategory | None] = relationship()

    @property
    def payment(self) -> dict[str, Any]:
        """The API's `payment` object over the three payment columns."""
        return {
            "mode": self.payment_mode or "none",
            "deposit_amount": self.deposit_amount,
            "deposit_percent": self.deposit_percent,
        }

    @payment.setter
    def payment(self, value: dict[str, Any]) -> None:
        self.payment_mode = value.get("mode", "none")
        self.deposit_amount = value.get("deposit_amount")
        self.deposit_percent = value.get("deposit_percent")
