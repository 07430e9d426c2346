"""Public notification indexes: due work for the dispatcher, and reply routing per recipient.

Revision ID: p0003
Revises: p0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_due",
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('send', 'poll')", name=op.f("ck_notification_due_kind")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenants.id"],
            name=op.f("fk_notification_due_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "notification_id", name=op.f("pk_notification_due")),
        schema="public",
    )
    op.create_index(
        "ix_notification_due_due_at", "notification_due", ["due_at"], unique=False, schema="public"
    )
    # A queue table: every send rewrites its entry a few times, and the dispatcher's scan of
    # `due_at <= now` walks the dead versions until they are vacuumed. Vacuum it early.
    op.execute(
        "ALTER TABLE public.notification_due SET (autovacuum_vacuum_scale_factor = 0, "
        "autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)"
    )
    op.create_table(
        "notification_recipients",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(32), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('whatsapp', 'sms')", name=op.f("ck_notification_recipients_channel")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenants.id"],
            name=op.f("fk_notification_recipients_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", "address", name=op.f("pk_notification_recipients")),
        schema="public",
    )
    op.create_index(
        "ix_notification_recipients_tenant_id",
        "notification_recipients",
        ["tenant_id"],
        unique=False,
        schema="public",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_recipients_tenant_id",
        table_name="notification_recipients",
        schema="public",
    )
    op.drop_table("notification_recipients", schema="public")
    op.drop_index("ix_notification_due_due_at", table_name="notification_due", schema="public")
    op.drop_table("notification_due", schema="public")
