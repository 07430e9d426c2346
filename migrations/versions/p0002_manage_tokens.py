"""Public index of booking manage tokens: a manage link finds its tenant by the token's hash.

Revision ID: p0002
Revises: p0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manage_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenants.id"],
            name=op.f("fk_manage_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_manage_tokens")),
        schema="public",
    )
    op.create_index(
        "ix_manage_tokens_tenant_id_booking_id",
        "manage_tokens",
        ["tenant_id", "booking_id"],
        unique=True,
        schema="public",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_manage_tokens_tenant_id_booking_id", table_name="manage_tokens", schema="public"
    )
    op.drop_table("manage_tokens", schema="public")
