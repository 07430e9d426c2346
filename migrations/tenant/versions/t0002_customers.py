"""customers

Revision ID: t0002
Revises: t0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

revision = 't0002'
down_revision = 't0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('search_name', sa.Text(collation='C'), sa.Computed('public.bookme_fold(full_name)', persisted=True), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('locale', sa.String(length=2), server_default='fr', nullable=False),
    sa.Column('tags', postgresql.ARRAY(Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    sa.Column('notes', sa.String(length=5000), nullable=True),
    sa.Column('consent_sms', sa.Boolean(), nullable=True),
    sa.Column('consent_sms_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_sms_source', sa.String(length=20), nullable=True),
    sa.Column('consent_whatsapp', sa.Boolean(), nullable=True),
    sa.Column('consent_whatsapp_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_whatsapp_source', sa.String(length=20), nullable=True),
    sa.Column('consent_email', sa.Boolean(), nullable=True),
    sa.Column('consent_email_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_email_source', sa.String(length=20), nullable=True),
    sa.Column('consent_marketing', sa.Boolean(), nullable=True),
    sa.Column('consent_marketing_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_marketing_source', sa.String(length=20), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("consent_email_source IS NULL OR consent_email_source IN ('staff', 'public_booking', 'reply', 'import')", name=op.f('ck_customers_consent_email_source')),
    sa.CheckConstraint("consent_marketing_source IS NULL OR consent_marketing_source IN ('staff', 'public_booking', 'reply', 'import')", name=op.f('ck_customers_consent_marketing_source')),
    sa.CheckConstraint("consent_sms_source IS NULL OR consent_sms_source IN ('staff', 'public_booking', 'reply', 'import')", name=op.f('ck_customers_consent_sms_source')),
    sa.CheckConstraint("consent_whatsapp_source IS NULL OR consent_whatsapp_source IN ('staff', 'public_booking', 'reply', 'import')", name=op.f('ck_customers_consent_whatsapp_source')),
    sa.CheckConstraint("locale IN ('fr', 'ar', 'en')", name=op.f('ck_customers_locale')),
    sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_customers_phone_e164')),
    sa.CheckConstraint('(consent_email IS NULL) = (consent_email_changed_at IS NULL)', name=op.f('ck_customers_consent_email_changed_at')),
    sa.CheckConstraint('(consent_marketing IS NULL) = (consent_marketing_changed_at IS NULL)', name=op.f('ck_customers_consent_marketing_changed_at')),
    sa.CheckConstraint('(consent_sms IS NULL) = (consent_sms_changed_at IS NULL)', name=op.f('ck_customers_consent_sms_changed_at')),
    sa.CheckConstraint('(consent_whatsapp IS NULL) = (consent_whatsapp_changed_at IS NULL)', name=op.f('ck_customers_consent_whatsapp_changed_at')),
    sa.CheckConstraint('cardinality(tags) <= 20', name=op.f('ck_customers_tags_count')),
    sa.CheckConstraint('erased_at IS NULL OR (phone IS NULL AND email IS NULL AND notes IS NULL)', name=op.f('ck_customers_erased_has_no_contact')),
    sa.CheckConstraint('length(full_name) BETWEEN 1 AND 200', name=op.f('ck_customers_full_name')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_index('ix_customers_email_trgm', 'customers', [sa.literal_column('lower(email) public.gin_trgm_ops')], unique=False, postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('ix_customers_name_sort', 'customers', ['search_name', 'id'], unique=False, postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('ix_customers_name_trgm', 'customers', [sa.literal_column('search_name public.gin_trgm_ops')], unique=False, postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('ix_customers_phone_suffix', 'customers', [sa.literal_column('reverse(phone) COLLATE "C"')], unique=False, postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('ix_customers_tags', 'customers', ['tags'], unique=False, postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('uq_customers_email_active', 'customers', [sa.literal_column('lower(email)')], unique=True, postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_index('uq_customers_phone_active', 'customers', ['phone'], unique=True, postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.create_table('customer_consent_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=400), nullable=False),
    sa.Column('actor_user_id', sa.UUID(), nullable=True),
    sa.Column('evidence', sa.String(length=1000), nullable=True),
    sa.CheckConstraint("channel IN ('sms', 'whatsapp', 'email', 'marketing')", name=op.f('ck_customer_consent_events_channel')),
    sa.CheckConstraint("source IN ('staff', 'public_booking', 'reply', 'import')", name=op.f('ck_customer_consent_events_source')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_consent_events_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_consent_events'))
    )
    op.create_index('ix_customer_consent_events_customer', 'customer_consent_events', ['customer_id', 'changed_at', 'id'], unique=False)
    op.create_table('customer_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=400), nullable=False),
    sa.Column('actor_user_id', sa.UUID(), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('created', 'updated', 'deleted', 'exported', 'erased')", name=op.f('ck_customer_events_type')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_events_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_events'))
    )
    op.create_index('ix_customer_events_customer', 'customer_events', ['customer_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customer_events_customer', table_name='customer_events')
    op.drop_table('customer_events')
    op.drop_index('ix_customer_consent_events_customer', table_name='customer_consent_events')
    op.drop_table('customer_consent_events')
    op.drop_index('uq_customers_phone_active', table_name='customers', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('uq_customers_email_active', table_name='customers', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('ix_customers_tags', table_name='customers', postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('ix_customers_phone_suffix', table_name='customers', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('ix_customers_name_trgm', table_name='customers', postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('ix_customers_name_sort', table_name='customers', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_index('ix_customers_email_trgm', table_name='customers', postgresql_using='gin', postgresql_where=sa.text('deleted_at IS NULL AND erased_at IS NULL'))
    op.drop_table('customers')
