"""Request and response schemas of customers, their consents, history and export."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from bookme.core import errors
from bookme.core.api import (
    Currency,
    Money,
    ProblemSchema,
    QuerySchema,
    Schema,
    Str,
    StrictBoolean,
    TenantDateTime,
)
from bookme.customers.models import CHANNELS, CONSENT_SOURCES, LOCALES, MAX_TAG_LENGTH, MAX_TAGS
from bookme.customers.service import normalise_email, normalise_phone


class Phone(ma.fields.String):
    """A phone number, normalised to E.164 (national numbers read as Moroccan)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "description": "E.164 on output. On input any usual spelling: "
                "`0612345678`, `06 12 34 56 78`, `00212612345678` and `+212612345678` "
                "are the same number; national numbers are read as Moroccan.",
                "example": "+212612345678",
            },
        )
        super().__init__(validate=ma.validate.Length(max=32), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_phone(text)
        except errors.BookMeError as exc:
            raise ma.ValidationError("Not a valid phone number.") from exc


class Email(ma.fields.String):
    """An email address, validated (syntax only) and normalised."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"example": "salma@example.com"})
        super().__init__(validate=ma.validate.Length(max=254), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_email(text)
        except errors.BookMeError as exc:
            raise ma.ValidationError("Not a valid email address.") from exc


def _tags(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(
        Str(MAX_TAG_LENGTH, min_length=1),
        validate=ma.validate.Length(max=MAX_TAGS),
        metadata={
            "description": f"At most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters; "
            "trimmed, duplicates (ignoring case) dropped."
        },
        **kwargs,
    )


# --- consents -------------------------------------------------------------------------------


class ConsentStateSchema(Schema):
    granted = ma.fields.Boolean(allow_none=True, metadata={"description": "null: never asked"})
    changed_at = TenantDateTime(allow_none=True)
    source = ma.fields.String(allow_none=True, metadata={"enum": list(CONSENT_SOURCES)})


class ConsentsSchema(Schema):
    sms = ma.fields.Nested(ConsentStateSchema)
    whatsapp = ma.fields.Nested(ConsentStateSchema)
    email = ma.fields.Nested(ConsentStateSchema)
    marketing = ma.fields.Nested(ConsentStateSchema)


def _consent_flag() -> ma.fields.Boolean:
    return StrictBoolean()


class ConsentsWriteSchema(Schema):
    """Consents are written as booleans; a consent left out keeps its current value."""

    sms = _consent_flag()
    whatsapp = _consent_flag()
    email = _consent_flag()
    marketing = _consent_flag()


class ConsentEventSchema(Schema):
    channel = ma.fields.String(metadata={"enum": list(CHANNELS)})
    granted = ma.fields.Boolean(allow_none=True)
    source = ma.fields.String(metadata={"enum": list(CONSENT_SOURCES)})
    changed_at = TenantDateTime()
    actor = ma.fields.String(metadata={"description": "Who recorded it"})
    evidence = ma.fields.String(
        allow_none=True,
        metadata={"description": "What proves it, e.g. the reply received; cleared on erasure"},
    )


# --- customers ------------------------------------------------------------------------------


class CustomerSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    full_name = ma.fields.String()
    phone = ma.fields.String(allow_none=True, metadata={"example": "+212612345678"})
    email = ma.fields.String(allow_none=True)
    locale = ma.fields.String(metadata={"enum": list(LOCALES)})
    tags = ma.fields.List(ma.fields.String())
    notes = ma.fields.String(allow_none=True)
    consents = ma.fields.Nested(ConsentsSchema)
    visit_count = ma.fields.Integer(allow_none=True, metadata={"description": "Completed bookings"})
    no_show_count = ma.fields.Integer(allow_none=True)
    last_visit_at = TenantDateTime(
        allow_none=True, metadata={"description": "Start of the latest completed booking"}
    )
    created_at = TenantDateTime(dump_only=True)
    updated_at = TenantDateTime(dump_only=True)
    deleted_at = TenantDateTime(
        allow_none=True, metadata={"description": "Set when soft-deleted (hidden from lists)"}
    )
    erased_at = TenantDateTime(
        allow_none=True,
        metadata={"description": "Set when personal data was erased (GDPR)"},
    )


class CustomerCreateSchema(Schema):
    full_name = Str(200, min_length=1, required=True)
    phone = Phone(allow_none=True)
    email = Email(allow_none=True)
    locale = ma.fields.String(
        validate=ma.validate.OneOf(LOCALES),
        metadata={"description": "Defaults to the business's locale"},
    )
    tags = _tags()
    notes = Str(5000, allow_none=True)
    consents = ma.fields.Nested(ConsentsWriteSchema)


class CustomerUpdateSchema(Schema):
    full_name = Str(200, min_length=1)
    phone = Phone(allow_none=True)
    email = Email(allow_none=True)
    locale = ma.fields.String(validate=ma.validate.OneOf(LOCALES))
    tags = _tags()
    notes = Str(5000, allow_none=True)
    consents = ma.fields.Nested(ConsentsWriteSchema)


class CustomerQueryArgsSchema(QuerySchema):
    q = Str(
        200,
        metadata={
            "description": "Matches the name (accent- and case-insensitive, partial), the "
            "email (partial) or the phone (any suffix of at least 6 digits, or the full number "
            "in any usual spelling)."
        },
    )
    tag = ma.fields.List(
        Str(MAX_TAG_LENGTH),
        metadata={"description": "Only customers holding this tag; repeat to require several."},
    )

    # The base schema's NUL check sees JSON bodies; query strings are checked here.
    @ma.validates("q")
    def _q_without_nul(self, value: str, **kwargs: Any) -> None:
        _reject_nul(value)

    @ma.validates("tag")
    def _tags_without_nul(self, value: list[str], **kwargs: Any) -> None:
        for item in value:
            _reject_nul(item)


def _reject_nul(value: str) -> None:
    if "\x00" in value:
        raise ma.ValidationError("NUL characters are not allowed.")


# --- history and export ---------------------------------------------------------------------


class CustomerBookingSchema(Schema):
    id = ma.fields.UUID()
    status = ma.fields.String()
    service_id = ma.fields.UUID()
    service_name = ma.fields.String()
    staff_id = ma.fields.UUID()
    staff_name = ma.fields.String()
    starts_at = TenantDateTime()
    ends_at = TenantDateTime()
    price = Money()
    currency = Currency()
    created_at = TenantDateTime()


class CustomerEventSchema(Schema):
    type = ma.fields.String()
    actor = ma.fields.String()
    data = ma.fields.Dict()
    created_at = TenantDateTime()


class CustomerExportSchema(Schema):
    format = ma.fields.String(metadata={"example": "bookme.customer-export/1"})
    exported_at = TenantDateTime()
    customer = ma.fields.Nested(CustomerSchema)
    consent_history = ma.fields.List(ma.fields.Nested(ConsentEventSchema))
    audit = ma.fields.List(ma.fields.Nested(CustomerEventSchema))
    sections = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(),
        metadata={
            "description": "What other modules hold about the customer, by module "
            "(bookings, notifications, payments, …)."
        },
    )


class CustomerConflictSchema(ProblemSchema):
    """409 `phone_taken` / `email_taken`: the contact belongs to another active customer."""

    existing_id = ma.fields.UUID(
        metadata={"description": "The id of the customer who already has this phone or email"}
    )
