"""catalog and schedules

Revision ID: t0001
Revises: 
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = 't0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('closures',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_closures_period')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closures'))
    )
    op.create_index('ix_closures_period', 'closures', [sa.literal_column('tstzrange(starts_at, ends_at)')], unique=False, postgresql_using='gist')
    op.create_table('service_categories',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('position >= 0', name=op.f('ck_service_categories_position')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_categories'))
    )
    op.create_index('uq_service_categories_name', 'service_categories', [sa.literal_column('lower(name)')], unique=True)
    op.create_table('services',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('category_id', sa.UUID(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=5000), nullable=True),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('buffer_before_minutes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('buffer_after_minutes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('slot_interval_minutes', sa.Integer(), server_default='15', nullable=False),
    sa.Column('min_notice_minutes', sa.Integer(), server_default='60', nullable=False),
    sa.Column('max_advance_days', sa.Integer(), server_default='60', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_services_currency')),
    sa.CheckConstraint('buffer_after_minutes BETWEEN 0 AND 240', name=op.f('ck_services_buffer_after')),
    sa.CheckConstraint('buffer_before_minutes BETWEEN 0 AND 240', name=op.f('ck_services_buffer_before')),
    sa.CheckConstraint('duration_minutes BETWEEN 5 AND 720', name=op.f('ck_services_duration')),
    sa.CheckConstraint('max_advance_days BETWEEN 1 AND 730', name=op.f('ck_services_max_advance')),
    sa.CheckConstraint('min_notice_minutes >= 0', name=op.f('ck_services_min_notice')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_services_price')),
    sa.CheckConstraint('slot_interval_minutes BETWEEN 5 AND 720', name=op.f('ck_services_slot_interval')),
    sa.CheckConstraint("jsonb_typeof(metadata) = 'object'", name=op.f('ck_services_metadata_object')),
    sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'], name=op.f('fk_services_category_id_service_categories'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services'))
    )
    op.create_index(op.f('ix_services_category_id'), 'services', ['category_id'], unique=False)
    op.create_index('uq_services_category_name', 'services', [sa.literal_column("coalesce(category_id, '00000000-0000-0000-0000-000000000000'::uuid)"), sa.literal_column('lower(name)')], unique=True)
    op.create_table('staff',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['public.users.id'], name=op.f('fk_staff_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff'))
    )
    op.create_index('uq_staff_user_id', 'staff', ['user_id'], unique=True, postgresql_where=sa.text('user_id IS NOT NULL'))
    op.create_table('date_overrides',
    sa.Column('staff_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_date_overrides_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'day', name=op.f('pk_date_overrides'))
    )
    op.create_table('staff_services',
    sa.Column('staff_id', sa.UUID(), nullable=False),
    sa.Column('service_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_staff_services_service_id_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_services_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'service_id', name=op.f('pk_staff_services'))
    )
    op.create_index(op.f('ix_staff_services_service_id'), 'staff_services', ['service_id'], unique=False)
    op.create_table('time_off',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('staff_id', sa.UUID(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_time_off_period')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_time_off_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_off'))
    )
    op.create_index('ix_time_off_staff_period', 'time_off', ['staff_id', sa.literal_column('tstzrange(starts_at, ends_at)')], unique=False, postgresql_using='gist')
    op.create_table('working_hours',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('staff_id', sa.UUID(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('start_minute', sa.SmallInteger(), nullable=False),
    sa.Column('end_minute', sa.SmallInteger(), nullable=False),
    postgresql.ExcludeConstraint((sa.column('staff_id'), '='), (sa.column('weekday'), '='), (sa.text('int4range(start_minute, end_minute)'), '&&'), using='gist', name='ex_working_hours_no_overlap'),
    sa.CheckConstraint('start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440', name=op.f('ck_working_hours_interval')),
    sa.CheckConstraint('weekday BETWEEN 1 AND 7', name=op.f('ck_working_hours_weekday')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_working_hours_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_working_hours'))
    )
    op.create_index(op.f('ix_working_hours_staff_id'), 'working_hours', ['staff_id'], unique=False)
    op.create_table('date_override_intervals',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('staff_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('start_minute', sa.SmallInteger(), nullable=False),
    sa.Column('end_minute', sa.SmallInteger(), nullable=False),
    postgresql.ExcludeConstraint((sa.column('staff_id'), '='), (sa.column('day'), '='), (sa.text('int4range(start_minute, end_minute)'), '&&'), using='gist', name='ex_date_override_intervals_no_overlap'),
    sa.CheckConstraint('start_minute >= 0 AND start_minute < end_minute AND end_minute <= 1440', name=op.f('ck_date_override_intervals_interval')),
    sa.ForeignKeyConstraint(['staff_id', 'day'], ['date_overrides.staff_id', 'date_overrides.day'], name='fk_date_override_intervals_date_overrides', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_date_override_intervals'))
    )


def downgrade() -> None:
    op.drop_table('date_override_intervals')
    op.drop_index(op.f('ix_working_hours_staff_id'), table_name='working_hours')
    op.drop_table('working_hours')
    op.drop_index('ix_time_off_staff_period', table_name='time_off', postgresql_using='gist')
    op.drop_table('time_off')
    op.drop_index(op.f('ix_staff_services_service_id'), table_name='staff_services')
    op.drop_table('staff_services')
    op.drop_table('date_overrides')
    op.drop_index('uq_staff_user_id', table_name='staff', postgresql_where=sa.text('user_id IS NOT NULL'))
    op.drop_table('staff')
    op.drop_index('uq_services_category_name', table_name='services')
    op.drop_index(op.f('ix_services_category_id'), table_name='services')
    op.drop_table('services')
    op.drop_index('uq_service_categories_name', table_name='service_categories')
    op.drop_table('service_categories')
    op.drop_index('ix_closures_period', table_name='closures', postgresql_using='gist')
    op.drop_table('closures')
