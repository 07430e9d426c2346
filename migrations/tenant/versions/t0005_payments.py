"""Payments: settings, payments, refunds, gapless invoices (immutable), webhook events;
the services' payment mode.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-25
"""

from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

SQL = Path(__file__).resolve().parents[3] / "sql"


def load_sql(name: str) -> str:
    """A versioned SQL file of the repository's `sql/` folder."""
    return (SQL / f"{name}.sql").read_text(encoding="utf-8")


revision = 't0005'
down_revision = 't0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('invoice_counters',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f('ck_invoice_counters_kind')),
    sa.CheckConstraint('last > 0', name=op.f('ck_invoice_counters_last')),
    sa.PrimaryKeyConstraint('kind', 'year', name=op.f('pk_invoice_counters'))
    )
    op.create_table('payment_settings',
    sa.Column('id', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('stripe_secret_key', sa.Text(), nullable=True),
    sa.Column('stripe_secret_key_last4', sa.String(length=4), nullable=True),
    sa.Column('stripe_publishable_key', sa.String(length=255), nullable=True),
    sa.Column('stripe_webhook_secret', sa.Text(), nullable=True),
    sa.Column('paypal_client_id', sa.String(length=255), nullable=True),
    sa.Column('paypal_client_secret', sa.Text(), nullable=True),
    sa.Column('paypal_client_secret_last4', sa.String(length=4), nullable=True),
    sa.Column('paypal_webhook_id', sa.String(length=255), nullable=True),
    sa.Column('paypal_currency', sa.String(length=3), nullable=True),
    sa.Column('paypal_rate', sa.Numeric(precision=14, scale=6), nullable=True),
    sa.Column('hold_minutes', sa.Integer(), server_default='15', nullable=False),
    sa.Column('full_refund_hours_before', sa.Integer(), server_default='24', nullable=False),
    sa.Column('tax_rate', sa.Numeric(precision=5, scale=2), server_default='20.00', nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.Column('ice', sa.String(length=32), nullable=True),
    sa.Column('tax_id', sa.String(length=32), nullable=True),
    sa.Column('trade_register', sa.String(length=64), nullable=True),
    sa.Column('invoice_prefix', sa.String(length=20), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("paypal_currency IS NULL OR paypal_currency ~ '^[A-Z]{3}$'", name=op.f('ck_payment_settings_paypal_currency')),
    sa.CheckConstraint('full_refund_hours_before >= 0', name=op.f('ck_payment_settings_full_refund_hours')),
    sa.CheckConstraint('hold_minutes BETWEEN 1 AND 1440', name=op.f('ck_payment_settings_hold_minutes')),
    sa.CheckConstraint('id = 1', name=op.f('ck_payment_settings_single_row')),
    sa.CheckConstraint('paypal_rate IS NULL OR paypal_rate > 0', name=op.f('ck_payment_settings_paypal_rate')),
    sa.CheckConstraint('tax_rate >= 0 AND tax_rate < 100', name=op.f('ck_payment_settings_tax_rate')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_settings'))
    )
    op.create_table('payment_webhook_events',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('outcome', sa.String(length=500), nullable=True),
    sa.CheckConstraint("provider IN ('stripe', 'paypal')", name=op.f('ck_payment_webhook_events_provider')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_webhook_events')),
    sa.UniqueConstraint('provider', 'event_id', name='uq_payment_webhook_events_provider_event_id')
    )
    op.create_index('ix_payment_webhook_events_unprocessed', 'payment_webhook_events', ['received_at'], unique=False, postgresql_where=sa.text('processed_at IS NULL'))
    op.create_table('payments',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('booking_id', sa.UUID(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('amount_refunded', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('provider_reference', sa.String(length=255), nullable=True),
    sa.Column('provider_charge', sa.String(length=255), nullable=True),
    sa.Column('client_secret', sa.Text(), nullable=True),
    sa.Column('approval_url', sa.String(length=2000), nullable=True),
    sa.Column('charged_amount', sa.BigInteger(), nullable=True),
    sa.Column('charged_currency', sa.String(length=3), nullable=True),
    sa.Column('exchange_rate', sa.Numeric(precision=14, scale=6), nullable=True),
    sa.Column('failure_reason', sa.String(length=500), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actor', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status IN ('succeeded', 'partially_refunded', 'refunded')) = (succeeded_at IS NOT NULL)", name=op.f('ck_payments_succeeded_at')),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_payments_currency')),
    sa.CheckConstraint("kind IN ('deposit', 'balance', 'full')", name=op.f('ck_payments_kind')),
    sa.CheckConstraint("provider IN ('stripe', 'paypal', 'cash')", name=op.f('ck_payments_provider')),
    sa.CheckConstraint("status IN ('requires_payment', 'processing', 'succeeded', 'failed', 'cancelled', 'partially_refunded', 'refunded')", name=op.f('ck_payments_status')),
    sa.CheckConstraint('(charged_amount IS NULL) = (charged_currency IS NULL) AND (charged_amount IS NULL) = (exchange_rate IS NULL)', name=op.f('ck_payments_charged')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payments_amount')),
    sa.CheckConstraint('amount_refunded >= 0 AND amount_refunded <= amount', name=op.f('ck_payments_amount_refunded')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_payments_booking_id_bookings'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    op.create_index('ix_payments_booking_id', 'payments', ['booking_id'], unique=False)
    op.create_index('ix_payments_created_at', 'payments', ['created_at', 'id'], unique=False)
    op.create_index('ix_payments_open_expires_at', 'payments', ['expires_at'], unique=False, postgresql_where=sa.text("status IN ('requires_payment', 'processing')"))
    op.create_index('ix_payments_provider_reference', 'payments', ['provider', 'provider_reference'], unique=True, postgresql_where=sa.text('provider_reference IS NOT NULL'))
    op.create_index('uq_payments_open_booking', 'payments', ['booking_id'], unique=True, postgresql_where=sa.text("status IN ('requires_payment', 'processing')"))
    op.create_table('refunds',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('payment_id', sa.UUID(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('provider_reference', sa.String(length=255), nullable=True),
    sa.Column('failure_reason', sa.String(length=500), nullable=True),
    sa.Column('actor', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('request_key', sa.String(length=255), nullable=True),
    sa.Column('request_fingerprint', sa.LargeBinary(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('succeeded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'succeeded') = (succeeded_at IS NOT NULL)", name=op.f('ck_refunds_succeeded_at')),
    sa.CheckConstraint("origin IN ('manual', 'policy', 'late_payment', 'provider')", name=op.f('ck_refunds_origin')),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f('ck_refunds_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refunds_amount')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    op.create_index('ix_refunds_payment_id', 'refunds', ['payment_id', 'created_at'], unique=False)
    op.create_index('ix_refunds_pending', 'refunds', ['created_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_refunds_provider_reference', 'refunds', ['provider_reference'], unique=True, postgresql_where=sa.text('provider_reference IS NOT NULL'))
    op.create_index('uq_refunds_payment_id_request_key', 'refunds', ['payment_id', 'request_key'], unique=True, postgresql_where=sa.text('request_key IS NOT NULL'))
    op.create_table('invoices',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booking_id', sa.UUID(), nullable=False),
    sa.Column('payment_id', sa.UUID(), nullable=False),
    sa.Column('refund_id', sa.UUID(), nullable=True),
    sa.Column('customer_id', sa.UUID(), nullable=True),
    sa.Column('customer', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('issuer', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=Text()), nullable=False),
    sa.Column('total_excl_tax', sa.BigInteger(), nullable=False),
    sa.Column('tax', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('tax_rate', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('credited_invoice_number', sa.String(length=64), nullable=True),
    sa.CheckConstraint("(kind = 'credit_note') = (refund_id IS NOT NULL)", name=op.f('ck_invoices_refund')),
    sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f('ck_invoices_kind')),
    sa.CheckConstraint('total > 0 AND tax >= 0 AND total_excl_tax >= 0 AND total_excl_tax + tax = total', name=op.f('ck_invoices_amounts')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_invoices_booking_id_bookings'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_invoices_payment_id_payments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_invoices_refund_id_refunds'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('kind', 'year', 'sequence', name='uq_invoices_kind_year_sequence'),
    sa.UniqueConstraint('number', name='uq_invoices_number')
    )
    op.create_index('ix_invoices_customer_id', 'invoices', ['customer_id'], unique=False)
    op.create_index('ix_invoices_issued_at', 'invoices', ['issued_at', 'id'], unique=False)
    op.create_index('uq_invoices_payment_invoice', 'invoices', ['payment_id'], unique=True, postgresql_where=sa.text("kind = 'invoice'"))
    op.create_index('uq_invoices_refund', 'invoices', ['refund_id'], unique=True, postgresql_where=sa.text('refund_id IS NOT NULL'))
    op.add_column('services', sa.Column('payment_mode', sa.String(length=16), server_default='none', nullable=False))
    op.add_column('services', sa.Column('deposit_amount', sa.Numeric(precision=12, scale=2), nullable=True))
    op.add_column('services', sa.Column('deposit_percent', sa.SmallInteger(), nullable=True))
    op.create_check_constraint(
        op.f('ck_services_payment_mode'), 'services', "payment_mode IN ('none', 'deposit', 'full')"
    )
    op.create_check_constraint(
        op.f('ck_services_deposit'),
        'services',
        "(payment_mode = 'deposit') = (num_nonnulls(deposit_amount, deposit_percent) = 1)"
        " AND (deposit_amount IS NULL OR deposit_amount > 0)"
        " AND (deposit_percent IS NULL OR deposit_percent BETWEEN 1 AND 100)",
    )
    op.execute(load_sql('invoices_immutable_v1'))


def downgrade() -> None:
    op.drop_constraint(op.f('ck_services_deposit'), 'services', type_='check')
    op.drop_constraint(op.f('ck_services_payment_mode'), 'services', type_='check')
    op.drop_column('services', 'deposit_percent')
    op.drop_column('services', 'deposit_amount')
    op.drop_column('services', 'payment_mode')
    op.drop_index('uq_invoices_refund', table_name='invoices', postgresql_where=sa.text('refund_id IS NOT NULL'))
    op.drop_index('uq_invoices_payment_invoice', table_name='invoices', postgresql_where=sa.text("kind = 'invoice'"))
    op.drop_index('ix_invoices_issued_at', table_name='invoices')
    op.drop_index('ix_invoices_customer_id', table_name='invoices')
    op.execute('DROP TRIGGER IF EXISTS invoices_immutable ON invoices')
    op.execute('DROP FUNCTION IF EXISTS invoices_immutable()')
    op.drop_table('invoices')
    op.drop_index('uq_refunds_payment_id_request_key', table_name='refunds', postgresql_where=sa.text('request_key IS NOT NULL'))
    op.drop_index('ix_refunds_provider_reference', table_name='refunds', postgresql_where=sa.text('provider_reference IS NOT NULL'))
    op.drop_index('ix_refunds_pending', table_name='refunds', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_refunds_payment_id', table_name='refunds')
    op.drop_table('refunds')
    op.drop_index('uq_payments_open_booking', table_name='payments', postgresql_where=sa.text("status IN ('requires_payment', 'processing')"))
    op.drop_index('ix_payments_provider_reference', table_name='payments', postgresql_where=sa.text('provider_reference IS NOT NULL'))
    op.drop_index('ix_payments_open_expires_at', table_name='payments', postgresql_where=sa.text("status IN ('requires_payment', 'processing')"))
    op.drop_index('ix_payments_created_at', table_name='payments')
    op.drop_index('ix_payments_booking_id', table_name='payments')
    op.drop_table('payments')
    op.drop_index('ix_payment_webhook_events_unprocessed', table_name='payment_webhook_events', postgresql_where=sa.text('processed_at IS NULL'))
    op.drop_table('payment_webhook_events')
    op.drop_table('payment_settings')
    op.drop_table('invoice_counters')
