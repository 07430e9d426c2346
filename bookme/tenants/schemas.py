"""Request and response schemas of tenants and their domains."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

import marshmallow as ma

from bookme.core.api import (
    AwareDateTime,
    Currency,
    Pattern,
    Schema,
    Str,
    TenantDateTime,
    TimeZone,
)
from bookme.tenants.models import TENANT_STATUSES
from bookme.tenants.service import LOCALES, SETTINGS_DEFAULTS, SETTINGS_RANGES, SLUG_RE


def _name(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(
        validate=[
            ma.validate.Length(min=1, max=200),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        **kwargs,
    )


def _setting(name: str, description: str) -> ma.fields.Integer:
    low, high = SETTINGS_RANGES[name]
    return ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=low, max=high),
        dump_default=SETTINGS_DEFAULTS[name],
        metadata={"default": SETTINGS_DEFAULTS[name], "description": description},
    )


class OwnZoneDateTime(AwareDateTime):
    """An instant rendered with the UTC offset of the object's own `timezone`."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        zone = getattr(obj, "timezone", None)
        if zone:
            value = value.astimezone(zoneinfo.ZoneInfo(zone))
        return value.isoformat()


class TenantSettingsSchema(Schema):
    """Booking rules; a setting never written reads as its default."""

    cancellation_cutoff_hours = _setting(
        "cancellation_cutoff_hours",
        "Customers may cancel or reschedule online until this many hours before the start.",
    )


class TenantSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    slug = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    timezone = ma.fields.String(dump_only=True, metadata={"example": "Africa/Casablanca"})
    currency = ma.fields.String(dump_only=True, metadata={"example": "MAD"})
    locale = ma.fields.String(dump_only=True, metadata={"enum": list(LOCALES)})
    status = ma.fields.String(dump_only=True, metadata={"enum": list(TENANT_STATUSES)})
    settings = ma.fields.Nested(TenantSettingsSchema, dump_only=True)
    created_at = OwnZoneDateTime(dump_only=True)


class TenantCreateSchema(Schema):
    slug = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Length(min=3, max=63),
            Pattern(
                SLUG_RE, error="3-63 characters of a-z, 0-9 and '-', starting with a letter."
            ),
        ],
        metadata={"description": "Unique; reserved words and PostgreSQL schema names refused."},
    )
    name = _name(required=True)
    timezone = TimeZone(load_default="Africa/Casablanca", validate=ma.validate.Length(max=64))
    currency = Currency(load_default="MAD")
    locale = ma.fields.String(load_default="fr", validate=ma.validate.OneOf(LOCALES))
    settings = ma.fields.Nested(TenantSettingsSchema)


class TenantUpdateSchema(Schema):
    """The fields given change; `settings` are merged setting by setting."""

    name = _name()
    timezone = TimeZone(validate=ma.validate.Length(max=64))
    currency = Currency()
    locale = ma.fields.String(validate=ma.validate.OneOf(LOCALES))
    settings = ma.fields.Nested(TenantSettingsSchema)


class TenantDomainSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    domain = ma.fields.String(dump_only=True, metadata={"example": "booking.salon-nadia.ma"})
    created_at = TenantDateTime(dump_only=True)


class TenantDomainCreateSchema(Schema):
    domain = Str(
        253,
        min_length=1,
        required=True,
        metadata={
            "description": "A hostname (stored lowercased); not the platform's own domain.",
            "example": "booking.salon-nadia.ma",
        },
    )
