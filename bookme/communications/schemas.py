"""Request and response schemas for notification settings, templates and the outbox."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma

from bookme.communications.models import CHANNELS, EVENTS, LOCALES, STATUSES
from bookme.communications.templates import VARIABLES
from bookme.core.api import QuerySchema, Schema, Str, TenantDateTime

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
MIN_OFFSET, MAX_OFFSET, MAX_OFFSETS = 5, 20160, 5


class EventToggles(ma.fields.Dict):
    """`{"booking_confirmed": true, …}`: which events send."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=ma.fields.String(validate=ma.validate.OneOf(EVENTS)),
            values=ma.fields.Boolean(truthy={True}, falsy={False}),
            **kwargs,
        )


class NotificationSettingsSchema(Schema):
    channels = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(CHANNELS)),
        metadata={"description": "Order of preference", "example": ["whatsapp", "sms", "email"]},
    )
    reminder_offsets_minutes = ma.fields.List(
        ma.fields.Integer(strict=True, validate=ma.validate.Range(MIN_OFFSET, MAX_OFFSET)),
        metadata={"description": "Minutes before the appointment; at most 5, each 5-20160"},
    )
    events = EventToggles()
    sms_sender = Str(
        16, allow_none=True, metadata={"description": "E.164 number or alphanumeric sender ID"}
    )
    whatsapp_sender = Str(16, allow_none=True, metadata={"description": "E.164 WhatsApp sender"})
    email_from_name = Str(100, allow_none=True)


class NotificationSettingsUpdateSchema(NotificationSettingsSchema):
    """PUT sets the fields given and keeps the others."""

    @ma.validates("channels")
    def _channels(self, value: list[str], **kwargs: Any) -> None:
        if len(set(value)) != len(value):
            raise ma.ValidationError("Each channel at most once.")

    @ma.validates("reminder_offsets_minutes")
    def _offsets(self, value: list[int], **kwargs: Any) -> None:
        if len(value) > MAX_OFFSETS:
            raise ma.ValidationError(f"At most {MAX_OFFSETS} reminders.")
        if len(set(value)) != len(value):
            raise ma.ValidationError("Each offset at most once.")

    @ma.validates("sms_sender")
    def _sms_sender(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not (
            E164.fullmatch(value) or ALPHANUMERIC_SENDER.fullmatch(value)
        ):
            raise ma.ValidationError(
                "An E.164 number or an alphanumeric sender ID (1-11 characters)."
            )

    @ma.validates("whatsapp_sender")
    def _whatsapp_sender(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not E164.fullmatch(value):
            raise ma.ValidationError("An E.164 number.")

    @ma.validates("email_from_name")
    def _from_name(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and (not value.strip() or re.search(r"[\r\n<>\"]", value)):
            raise ma.ValidationError(
                "A display name without line breaks, quotes or angle brackets."
            )


class NotificationTemplateSchema(Schema):
    event = ma.fields.String(validate=ma.validate.OneOf(EVENTS))
    channel = ma.fields.String(validate=ma.validate.OneOf(CHANNELS))
    locale = ma.fields.String(validate=ma.validate.OneOf(LOCALES))
    subject = Str(200, allow_none=True)
    body = Str(5000)
    content_sid = Str(34, allow_none=True)
    content_variables = ma.fields.List(ma.fields.String())
    is_default = ma.fields.Boolean()


class NotificationTemplateUpdateSchema(Schema):
    subject = Str(200, allow_none=True, metadata={"description": "Email only"})
    body = Str(5000, min_length=1, required=True)
    content_sid = Str(
        34,
        allow_none=True,
        metadata={
            "description": "WhatsApp only: the approved template used outside the 24-hour window"
        },
    )
    content_variables = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(VARIABLES)),
        validate=ma.validate.Length(max=len(VARIABLES)),
        metadata={"description": "WhatsApp only: the variables filling {{1}}, {{2}}, … in order"},
    )

    @ma.validates("content_sid")
    def _content_sid(self, value: str | None, **kwargs: Any) -> None:
        if value is not None and not CONTENT_SID.fullmatch(value):
            raise ma.ValidationError("A Twilio Content SID (HX followed by 32 hex digits).")


class NotificationTemplatePreviewSchema(Schema):
    subject = Str(200)
    body = Str(5000, min_length=1)


class NotificationPreviewSchema(Schema):
    subject = ma.fields.String(allow_none=True)
    body = ma.fields.String()


class NotificationSchema(Schema):
    id = ma.fields.UUID()
    event = ma.fields.String()
    channel = ma.fields.String(allow_none=True)
    to = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    scheduled_for = TenantDateTime()
    sent_at = TenantDateTime(allow_none=True)
    delivered_at = TenantDateTime(allow_none=True)
    attempts = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    error_detail = ma.fields.String(allow_none=True)
    provider_message_id = ma.fields.String(allow_none=True)
    booking_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    reminder_offset_minutes = ma.fields.Integer(allow_none=True)
    fallback_of = ma.fields.UUID(allow_none=True)
    created_at = TenantDateTime()


class NotificationQueryArgsSchema(QuerySchema):
    booking_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    event = ma.fields.String(validate=ma.validate.OneOf(EVENTS))
    channel = ma.fields.String(validate=ma.validate.OneOf(CHANNELS))
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
