"""Bookings with their no-overlap exclusion constraint, booking events, idempotency keys.

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "t0003"
down_revision = "t0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claim", sa.UUID(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(state = 'done') = (response_status IS NOT NULL)",
            name=op.f("ck_idempotency_keys_done_has_response"),
        ),
        sa.CheckConstraint(
            "state IN ('in_progress', 'done')", name=op.f("ck_idempotency_keys_state")
        ),
        sa.CheckConstraint(
            "length(key) BETWEEN 1 AND 255", name=op.f("ck_idempotency_keys_key_length")
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("staff_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("cancellation_reason", sa.String(length=500), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_status", sa.String(length=16), server_default="none", nullable=False),
        sa.Column(
            "amount_paid", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False
        ),
        sa.Column("payment_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("manage_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("manage_token_encrypted", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("staff_id"), "="),
            (sa.column("blocked"), "&&"),
            where=sa.text("status IN ('pending', 'confirmed')"),
            using="gist",
            name="ex_bookings_no_overlap",
        ),
        sa.CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL)",
            name=op.f("ck_bookings_cancelled_at"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_bookings_currency")),
        sa.CheckConstraint(
            "payment_status IN ('none', 'unpaid', 'deposit_paid', 'paid', 'refunded')",
            name=op.f("ck_bookings_payment_status"),
        ),
        sa.CheckConstraint("source IN ('admin', 'api', 'public')", name=op.f("ck_bookings_source")),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'completed', 'no_show')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint(
            "NOT isempty(blocked) AND blocked @> tstzrange(starts_at, ends_at)",
            name=op.f("ck_bookings_blocked"),
        ),
        sa.CheckConstraint("price >= 0 AND amount_paid >= 0", name=op.f("ck_bookings_money")),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_bookings_period")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_bookings_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_bookings_service_id_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_bookings_staff_id_staff"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("manage_token_hash", name=op.f("uq_bookings_manage_token_hash")),
    )
    op.create_index(
        "ix_bookings_customer_id_starts_at", "bookings", ["customer_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_bookings_hold_expiry",
        "bookings",
        ["payment_due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND payment_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_bookings_service_id_starts_at", "bookings", ["service_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_bookings_staff_id_starts_at", "bookings", ["staff_id", "starts_at"], unique=False
    )
    op.create_index("ix_bookings_starts_at", "bookings", ["starts_at", "id"], unique=False)
    op.create_table(
        "booking_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column(
            "actor", postgresql.JSONB(astext_type=Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "data", postgresql.JSONB(astext_type=Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_events_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_events")),
    )
    op.create_index(
        "ix_booking_events_booking_id_id", "booking_events", ["booking_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_booking_events_booking_id_id", table_name="booking_events")
    op.drop_table("booking_events")
    op.drop_index("ix_bookings_starts_at", table_name="bookings")
    op.drop_index("ix_bookings_staff_id_starts_at", table_name="bookings")
    op.drop_index("ix_bookings_service_id_starts_at", table_name="bookings")
    op.drop_index(
        "ix_bookings_hold_expiry",
        table_name="bookings",
        postgresql_where=sa.text("status = 'pending' AND payment_due_at IS NOT NULL"),
    )
    op.drop_index("ix_bookings_customer_id_starts_at", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
