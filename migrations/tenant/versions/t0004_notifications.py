"""Notifications: the outbox, templates, settings and replies of each tenant.

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = 't0004'
down_revision = 't0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_settings',
    sa.Column('id', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('channels', postgresql.ARRAY(sa.String(length=16)), nullable=False),
    sa.Column('reminder_offsets_minutes', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('events', postgresql.JSONB(astext_type=Text()), server_default='{}', nullable=False),
    sa.Column('sms_sender', sa.String(length=32), nullable=True),
    sa.Column('whatsapp_sender', sa.String(length=32), nullable=True),
    sa.Column('email_from_name', sa.String(length=100), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id', name=op.f('ck_notification_settings_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_settings'))
    )
    op.create_table('notification_templates',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('locale', sa.String(length=2), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.String(length=5000), nullable=False),
    sa.Column('content_sid', sa.String(length=64), nullable=True),
    sa.Column('content_variables', postgresql.ARRAY(sa.String(length=40)), server_default=sa.text("'{}'::varchar[]"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("channel IN ('whatsapp', 'sms', 'email')", name=op.f('ck_notification_templates_channel')),
    sa.CheckConstraint("event IN ('booking_created', 'booking_confirmed', 'booking_rescheduled', 'booking_cancelled', 'booking_reminder', 'payment_receipt', 'payment_refunded')", name=op.f('ck_notification_templates_event')),
    sa.CheckConstraint("locale IN ('fr', 'ar', 'en')", name=op.f('ck_notification_templates_locale')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_templates')),
    sa.UniqueConstraint('event', 'channel', 'locale', name=op.f('uq_notification_templates_event_channel_locale'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('booking_id', sa.UUID(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('locale', sa.String(length=2), nullable=False),
    sa.Column('to', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminder_offset_minutes', sa.Integer(), nullable=True),
    sa.Column('appointment_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference_id', sa.UUID(), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('in_doubt_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=64), nullable=True),
    sa.Column('error_detail', sa.String(length=500), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=True),
    sa.Column('provider_message_id', sa.String(length=255), nullable=True),
    sa.Column('fallback_of', sa.UUID(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(event = 'booking_reminder') = (reminder_offset_minutes IS NOT NULL)", name=op.f('ck_notifications_reminder_offset')),
    sa.CheckConstraint("channel IN ('whatsapp', 'sms', 'email')", name=op.f('ck_notifications_channel')),
    sa.CheckConstraint("channel IS NOT NULL OR status = 'skipped'", name=op.f('ck_notifications_has_channel')),
    sa.CheckConstraint("event IN ('booking_created', 'booking_confirmed', 'booking_rescheduled', 'booking_cancelled', 'booking_reminder', 'payment_receipt', 'payment_refunded')", name=op.f('ck_notifications_event')),
    sa.CheckConstraint("locale IN ('fr', 'ar', 'en')", name=op.f('ck_notifications_locale')),
    sa.CheckConstraint("status <> 'sending' OR claimed_until IS NOT NULL", name=op.f('ck_notifications_sending_has_lease')),
    sa.CheckConstraint("status IN ('scheduled', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'skipped')", name=op.f('ck_notifications_status')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_notifications_attempts')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_notifications_booking_id_bookings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notifications_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fallback_of'], ['notifications.id'], name=op.f('fk_notifications_fallback_of_notifications'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    op.create_index('ix_notifications_booking_id_created_at', 'notifications', ['booking_id', 'created_at'], unique=False)
    op.create_index('ix_notifications_created_at_id', 'notifications', ['created_at', 'id'], unique=False)
    op.create_index('ix_notifications_customer_id_created_at', 'notifications', ['customer_id', 'created_at'], unique=False)
    op.create_index('ix_notifications_provider_message_id', 'notifications', ['provider_message_id'], unique=True, postgresql_where=sa.text('provider_message_id IS NOT NULL'))
    op.create_index('uq_notifications_dedupe', 'notifications', ['booking_id', 'event', 'channel', 'reminder_offset_minutes', 'appointment_at', 'reference_id'], unique=True, postgresql_nulls_not_distinct=True, postgresql_where=sa.text("status <> 'cancelled'"))
    op.create_table('notification_replies',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=True),
    sa.Column('booking_id', sa.UUID(), nullable=True),
    sa.Column('notification_id', sa.UUID(), nullable=True),
    sa.Column('body', sa.String(length=1600), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('confirm', 'cancel', 'stop', 'unknown')", name=op.f('ck_notification_replies_action')),
    sa.CheckConstraint("channel IN ('whatsapp', 'sms', 'email')", name=op.f('ck_notification_replies_channel')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_notification_replies_booking_id_bookings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notification_replies_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_notification_replies_notification_id_notifications'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_replies')),
    sa.UniqueConstraint('message_sid', name=op.f('uq_notification_replies_message_sid'))
    )
    op.create_index('ix_notification_replies_customer_id_received_at', 'notification_replies', ['customer_id', 'received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notification_replies_customer_id_received_at', table_name='notification_replies')
    op.drop_table('notification_replies')
    op.drop_index('uq_notifications_dedupe', table_name='notifications', postgresql_nulls_not_distinct=True)
    op.drop_index('ix_notifications_provider_message_id', table_name='notifications', postgresql_where=sa.text('provider_message_id IS NOT NULL'))
    op.drop_index('ix_notifications_customer_id_created_at', table_name='notifications')
    op.drop_index('ix_notifications_created_at_id', table_name='notifications')
    op.drop_index('ix_notifications_booking_id_created_at', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('notification_templates')
    op.drop_table('notification_settings')
