"""Request and response schemas of the catalog: service categories and services."""

from __future__ import annotations

import json
import math
from typing import Any

import marshmallow as ma

from bookme.core.api import (
    Currency,
    Money,
    QuerySchema,
    Schema,
    Str,
    StrictBoolean,
    TenantDateTime,
)

METADATA_MAX_BYTES = 8192
METADATA_MAX_DEPTH = 10
MAX_POSITION = 1_000_000
# A year: anything longer is a typo, and it keeps the column far from integer overflow.
MAX_MIN_NOTICE_MINUTES = 525_600


def Name(max_length: int, **kwargs: Any) -> ma.fields.String:
    """A required-looking name: 1..max characters, not only blanks."""
    return ma.fields.String(
        validate=[
            ma.validate.Length(min=1, max=max_length),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        **kwargs,
    )


def Minutes(low: int, high: int, **kwargs: Any) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=low, max=high), **kwargs)


def check_json_object(value: Any) -> None:
    """A free JSON object PostgreSQL can store: bounded size and depth, no NUL, finite numbers."""
    if not isinstance(value, dict):
        raise ma.ValidationError("Must be a JSON object.")
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            raise ma.ValidationError(f"Nested deeper than {METADATA_MAX_DEPTH} levels.")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or "\x00" in key:
                    raise ma.ValidationError("Keys must be strings without NUL characters.")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ma.ValidationError("NUL characters are not allowed.")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ma.ValidationError("Numbers must be finite.")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > METADATA_MAX_BYTES:
        raise ma.ValidationError(f"At most {METADATA_MAX_BYTES} bytes of JSON.")


def Metadata(**kwargs: Any) -> ma.fields.Dict:
    return ma.fields.Dict(
        validate=check_json_object,
        metadata={
            "description": f"A free JSON object for integrations (at most {METADATA_MAX_BYTES} "
            f"bytes as compact JSON, {METADATA_MAX_DEPTH} levels deep)."
        },
        **kwargs,
    )


# --- categories ---------------------------------------------------------------------------------


class ServiceCategorySchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String()
    position = ma.fields.Integer()
    created_at = TenantDateTime(dump_only=True)
    updated_at = TenantDateTime(dump_only=True)


class ServiceCategoryCreateSchema(Schema):
    name = Name(
        120, required=True, metadata={"description": "Unique in the business, case-insensitively."}
    )
    position = ma.fields.Integer(
        strict=True,
        load_default=0,
        validate=ma.validate.Range(min=0, max=MAX_POSITION),
        metadata={"description": "Display order: lower first, then by name."},
    )


class ServiceCategoryUpdateSchema(Schema):
    name = Name(120)
    position = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=MAX_POSITION))


# --- services -----------------------------------------------------------------------------------


class ServicePaymentSchema(Schema):
    """What a public booking of the service pays online when it is made."""

    mode = ma.fields.String(
        load_default="none",
        validate=ma.validate.OneOf(["none", "deposit", "full"]),
        metadata={"description": "`none` (pay at the counter), `deposit` or `full` prepayment."},
    )
    deposit_amount = Money(
        allow_none=True,
        load_default=None,
        metadata={"description": "A fixed deposit (mode `deposit`; capped at the price)."},
    )
    deposit_percent = ma.fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(min=1, max=100),
        metadata={"description": "A deposit as a percentage of the price, rounded half up."},
    )

    @ma.validates_schema
    def _deposit(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [k for k in ("deposit_amount", "deposit_percent") if data.get(k) is not None]
        if data.get("mode") == "deposit":
            if len(given) != 1:
                raise ma.ValidationError(
                    "A deposit takes exactly one of deposit_amount and deposit_percent.",
                    "deposit_amount",
                )
            if data.get("deposit_amount") is not None and data["deposit_amount"] <= 0:
                raise ma.ValidationError("Must be more than zero.", "deposit_amount")
        elif given:
            raise ma.ValidationError("Only a deposit takes a deposit amount or percent.", given[0])


class ServiceSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    category_id = ma.fields.UUID(allow_none=True)
    duration_minutes = ma.fields.Integer()
    price = Money(metadata={"example": "150.00"})
    currency = ma.fields.String(metadata={"example": "MAD"})
    buffer_before_minutes = ma.fields.Integer()
    buffer_after_minutes = ma.fields.Integer()
    slot_interval_minutes = ma.fields.Integer()
    min_notice_minutes = ma.fields.Integer()
    max_advance_days = ma.fields.Integer()
    is_active = ma.fields.Boolean()
    metadata = ma.fields.Dict(attribute="metadata_")
    payment = ma.fields.Nested(ServicePaymentSchema)
    created_at = TenantDateTime(dump_only=True)
    updated_at = TenantDateTime(dump_only=True)


def _service_fields(create: bool) -> dict[str, ma.fields.Field]:
    def default(value: Any) -> dict[str, Any]:
        return {"load_default": value} if create else {}

    return {
        "name": Name(200, required=create, metadata={"example": "Coupe homme"}),
        "description": Str(5000, allow_none=True, **default(None)),
        "category_id": ma.fields.UUID(allow_none=True, **default(None)),
        "duration_minutes": Minutes(5, 720, required=create),
        "price": Money(
            required=create,
            metadata={
                "description": "A non-negative decimal string, at most 2 places.",
                "example": "150.00",
            },
        ),
        "currency": Currency(
            metadata={"description": "ISO 4217; the business's currency when omitted."}
        ),
        "buffer_before_minutes": Minutes(0, 240, **default(0)),
        "buffer_after_minutes": Minutes(0, 240, **default(0)),
        "slot_interval_minutes": Minutes(
            5, 720, **default(15), metadata={"description": "Slot grid step (default 15)."}
        ),
        "min_notice_minutes": Minutes(
            0,
            MAX_MIN_NOTICE_MINUTES,
            **default(60),
            metadata={"description": "How long before the start a booking closes (default 60)."},
        ),
        "max_advance_days": ma.fields.Integer(
            strict=True,
            validate=ma.validate.Range(min=1, max=730),
            **default(60),
            metadata={"description": "Booking horizon in days (default 60)."},
        ),
        "is_active": StrictBoolean(**default(True)),
        "metadata": Metadata(**default({})),
        "payment": ma.fields.Nested(
            ServicePaymentSchema,
            **default({"mode": "none", "deposit_amount": None, "deposit_percent": None}),
            metadata={"description": "Online payment asked of public bookings (default none)."},
        ),
    }


ServiceCreateSchema = Schema.from_dict(_service_fields(create=True), name="ServiceCreateSchema")
ServiceUpdateSchema = Schema.from_dict(_service_fields(create=False), name="ServiceUpdateSchema")


class ServiceQueryArgsSchema(QuerySchema):
    is_active = ma.fields.Boolean()
    category_id = ma.fields.UUID(metadata={"description": "Only the services of this category."})
