"""Booking request and response schemas (API.md "Bookings")."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import marshmallow as ma

from bookme.bookings.models import STATUSES
from bookme.core import tenancy
from bookme.core.api import (
    LOCAL_DATE,
    AwareDateTime,
    Currency,
    LocalDate,
    Money,
    QuerySchema,
    Schema,
    Str,
    StrictBoolean,
    TenantDateTime,
)

IDEMPOTENCY_KEY_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BookingConsentsSchema(Schema):
    sms = StrictBoolean(allow_none=True)
    whatsapp = StrictBoolean(allow_none=True)
    email = StrictBoolean(allow_none=True)
    marketing = StrictBoolean(allow_none=True)


class BookingCustomerSchema(Schema):
    """Who the booking is for; found by phone or email, else created."""

    full_name = Str(200, min_length=1, required=True)
    phone = Str(32, metadata={"description": "E.164, e.g. +212612345678"})
    email = ma.fields.Email(validate=ma.validate.Length(max=320))
    locale = ma.fields.String(validate=ma.validate.OneOf(["fr", "ar", "en"]))
    consents = ma.fields.Nested(BookingConsentsSchema)

    @ma.validates_schema
    def _reachable(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("phone") and not data.get("email"):
            raise ma.ValidationError("A phone number or an email address is required.", "phone")


class _BookingRequestSchema(Schema):
    service_id = ma.fields.UUID(required=True)
    staff_id = ma.fields.UUID(
        metadata={"description": "Omit to have any qualified staff member free then assigned."}
    )
    starts_at = AwareDateTime(required=True)
    customer = ma.fields.Nested(BookingCustomerSchema)
    notes = Str(2000)


class BookingCreateSchema(_BookingRequestSchema):
    """A booking made by a member: `customer` (found or created) or `customer_id`."""

    customer_id = ma.fields.UUID()

    @ma.validates_schema
    def _one_customer(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("customer" in data) == ("customer_id" in data):
            raise ma.ValidationError("Send either customer or customer_id.", "customer")


class PublicBookingCreateSchema(_BookingRequestSchema):
    """A booking made by the customer through the public API."""

    payment_provider = ma.fields.String(
        validate=ma.validate.OneOf(["stripe", "paypal"]),
        metadata={
            "description": "When the service asks for online payment: `stripe` (default) "
            "or `paypal`. Ignored otherwise."
        },
    )

    @ma.validates_schema
    def _customer_required(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "customer" not in data:
            raise ma.ValidationError("Missing data for required field.", "customer")


class IdempotencyHeaderSchema(QuerySchema):
    """The optional `Idempotency-Key` header: a retry with the same key replays the first answer."""

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        validate=ma.validate.Length(min=1, max=IDEMPOTENCY_KEY_MAX),
        metadata={
            "description": "Up to 255 characters; keys are kept 24 hours. A retry with the "
            "same key and request gets the first answer again (same status and body) with "
            "the header `Idempotent-Replayed: true`."
        },
    )

    @ma.validates("idempotency_key")
    def _printable(self, value: str, **kwargs: Any) -> None:
        if _CONTROL.search(value):
            raise ma.ValidationError("Control characters are not allowed.")


class BookingSchema(Schema):
    """A booking as members see it (the manage token never appears here)."""

    id = ma.fields.UUID(dump_only=True)
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    source = ma.fields.String(metadata={"enum": ["admin", "api", "public"]})
    service_id = ma.fields.UUID()
    staff_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    starts_at = TenantDateTime()
    ends_at = TenantDateTime()
    price = Money()
    currency = Currency()
    payment_status = ma.fields.String(
        metadata={
            "enum": ["none", "unpaid", "deposit_paid", "paid", "refunded"],
            "description": "Without online payment every booking is `none`: paid at the counter.",
        }
    )
    amount_paid = Money(metadata={"description": "Paid minus refunded."})
    amount_due = Money(metadata={"description": "Price minus amount_paid, never below zero."})
    payment_due_at = TenantDateTime(
        allow_none=True, metadata={"description": "A pending booking's hold expiry, else null."}
    )
    notes = ma.fields.String(allow_none=True)
    cancellation_reason = ma.fields.String(allow_none=True)
    cancelled_at = TenantDateTime(allow_none=True)
    created_at = TenantDateTime()
    updated_at = TenantDateTime()


class BookingPaymentSchema(Schema):
    """An online payment opened with a public booking (decimal strings, as the payments API)."""

    id = ma.fields.UUID()
    provider = ma.fields.String(metadata={"enum": ["stripe", "paypal"]})
    kind = ma.fields.String(metadata={"enum": ["deposit", "balance", "full"]})
    amount = ma.fields.String(metadata={"example": "50.00"})
    currency = ma.fields.String()
    status = ma.fields.String(metadata={"example": "requires_payment"})
    client_secret = ma.fields.String(metadata={"description": "Stripe: confirm with Stripe.js"})
    publishable_key = ma.fields.String(metadata={"description": "Stripe: for Stripe.js"})
    approval_url = ma.fields.String(metadata={"description": "PayPal: send the customer here"})
    charged_amount = ma.fields.String(metadata={"description": "PayPal: charged in EUR/USD"})
    charged_currency = ma.fields.String()
    exchange_rate = ma.fields.String()
    expires_at = ma.fields.String(metadata={"format": "date-time"})


class ManagedPaymentSchema(Schema):
    id = ma.fields.UUID()
    provider = ma.fields.String(metadata={"enum": ["stripe", "paypal", "cash"]})
    kind = ma.fields.String(metadata={"enum": ["deposit", "balance", "full"]})
    amount = ma.fields.String()
    currency = ma.fields.String()
    status = ma.fields.String()
    amount_refunded = ma.fields.String()


class PublicBookingCreatedSchema(Schema):
    """What a customer gets back from a public booking; `manage_token` is shown this once."""

    id = ma.fields.UUID()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    service_id = ma.fields.UUID()
    staff_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    starts_at = TenantDateTime()
    ends_at = TenantDateTime()
    price = Money()
    currency = Currency()
    payment_status = ma.fields.String()
    amount_paid = Money()
    amount_due = Money()
    payment_due_at = TenantDateTime(allow_none=True)
    created_at = TenantDateTime()
    manage_token = ma.fields.String(
        metadata={"description": "The customer's self-service token; never shown again."}
    )
    manage_url = ma.fields.String(metadata={"description": "{PUBLIC_BASE_URL}/m/{manage_token}"})
    payment = ma.fields.Nested(
        BookingPaymentSchema,
        metadata={
            "description": "When the service asks for online payment: the payment to "
            "complete before `payment_due_at` (Stripe `client_secret` or PayPal "
            "`approval_url`)."
        },
    )


class BookingQueryArgsSchema(QuerySchema):
    """Filters: `from`/`to` take a local date (inclusive, in the tenant's zone) or an instant."""

    from_ = ma.fields.String(
        data_key="from",
        validate=ma.validate.Length(max=40),
        metadata={"description": "YYYY-MM-DD or RFC 3339"},
    )
    to = ma.fields.String(
        validate=ma.validate.Length(max=40),
        metadata={"description": "YYYY-MM-DD (inclusive) or RFC 3339"},
    )
    staff_id = ma.fields.UUID()
    customer_id = ma.fields.UUID()
    service_id = ma.fields.UUID()
    status = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(STATUSES)),
        metadata={"description": "Repeat to match several statuses."},
    )

    @ma.validates("from_")
    def _from(self, value: str, **kwargs: Any) -> None:
        check_bound(value)

    @ma.validates("to")
    def _to(self, value: str, **kwargs: Any) -> None:
        check_bound(value)


def check_bound(value: str) -> None:
    """A list filter's `from`/`to` (bookings, payments, invoices): a local date within the
    instant years (`resolve_bound` adds a day to a `to` date) or an RFC 3339 instant."""
    if len(value) > 40:
        raise ma.ValidationError("Too long.")
    if LOCAL_DATE.fullmatch(value):
        LocalDate().deserialize(value)  # a real date, in range
        return
    try:
        AwareDateTime().deserialize(value)
    except ma.ValidationError as exc:
        raise ma.ValidationError("Expected YYYY-MM-DD or an RFC 3339 instant.") from exc


def resolve_bound(value: str | None, timezone: str, *, end: bool) -> dt.datetime | None:
    """A filter bound as an instant: a local date means its start (`from`) or next day (`to`)."""
    if value is None:
        return None
    if LOCAL_DATE.fullmatch(value):
        day = dt.date.fromisoformat(value)
        if end:
            day = day + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(timezone))
    moment: dt.datetime = AwareDateTime().deserialize(value)
    return moment


class BookingCancelSchema(Schema):
    reason = Str(500)


class BookingRescheduleSchema(Schema):
    starts_at = AwareDateTime(required=True)
    staff_id = ma.fields.UUID(
        metadata={"description": "Another qualified staff member; omitted keeps the same one."}
    )


class PublicRescheduleSchema(Schema):
    starts_at = AwareDateTime(required=True)
    staff_id = ma.fields.UUID(
        metadata={"description": "Another qualified staff member; omitted keeps the same one."}
    )


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _in_tenant_zone(value: Any) -> Any:
    """Instants stored in an event's data read with the tenant's offset, like every output."""
    if isinstance(value, dict):
        return {key: _in_tenant_zone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_tenant_zone(item) for item in value]
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        tenant = tenancy.current()
        if tenant is not None:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).isoformat()
    return value


class TenantData(ma.fields.Dict):
    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return _in_tenant_zone(super()._serialize(value, attr, obj, **kwargs))


class BookingEventSchema(Schema):
    type = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    actor = ma.fields.Dict()
    data = TenantData()
    created_at = TenantDateTime()


class _NamedSchema(Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()


class _StaffNameSchema(Schema):
    id = ma.fields.UUID()
    display_name = ma.fields.String()


class _BusinessSchema(Schema):
    name = ma.fields.String()
    slug = ma.fields.String()
    timezone = ma.fields.String()


class ManagedBookingSchema(Schema):
    """The customer's view of their booking, through the manage link."""

    id = ma.fields.UUID()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    starts_at = TenantDateTime()
    ends_at = TenantDateTime()
    service = ma.fields.Nested(_NamedSchema)
    staff = ma.fields.Nested(_StaffNameSchema)
    business = ma.fields.Nested(_BusinessSchema)
    price = Money()
    currency = Currency()
    payment_status = ma.fields.String()
    amount_paid = Money()
    amount_due = Money()
    payment_due_at = TenantDateTime(allow_none=True)
    cancellation_reason = ma.fields.String(allow_none=True)
    changeable_until = TenantDateTime(
        metadata={"description": "Cancel or reschedule before this instant (the tenant's cutoff)."}
    )
    can_change = ma.fields.Boolean(
        metadata={"description": "Whether cancel and reschedule are open right now."}
    )
    payments = ma.fields.List(ma.fields.Nested(ManagedPaymentSchema))
