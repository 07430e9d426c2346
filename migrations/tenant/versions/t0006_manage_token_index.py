"""Bookings: no index of their own on the manage-token hash.

`public.manage_tokens` holds every hash under its primary key (unique across tenants), and
manage links are looked up there. The bookings table's copy of that index was a second
random-keyed B-tree written by every booking.

Revision ID: t0006
Revises: t0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "t0006"
down_revision = "t0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("uq_bookings_manage_token_hash"), "bookings", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint(
        op.f("uq_bookings_manage_token_hash"), "bookings", ["manage_token_hash"]
    )
