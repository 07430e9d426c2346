"""Services and staff: `deleted_at`, for those deleted while past bookings still name them.

API.md refuses a deletion only while future active bookings depend on the service or staff
member; past and cancelled bookings keep their row, which then disappears from everything
else. A deleted service's name may be used again in its category.

Revision ID: t0008
Revises: t0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "t0008"
down_revision = "t0007"
branch_labels = None
depends_on = None

NAME_KEY = [
    sa.text("coalesce(category_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
    sa.text("lower(name)"),
]


def upgrade() -> None:
    op.add_column("services", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("staff", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.drop_index("uq_services_category_name", table_name="services")
    op.create_index(
        "uq_services_category_name",
        "services",
        NAME_KEY,
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_services_category_name", table_name="services")
    op.create_index("uq_services_category_name", "services", NAME_KEY, unique=True)
    op.drop_column("staff", "deleted_at")
    op.drop_column("services", "deleted_at")
