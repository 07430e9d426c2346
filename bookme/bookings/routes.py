"""Booking endpoints: /bookings (members), /public/bookings (customers, and the manage link)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from flask_smorest.pagination import PaginationParameters

from bookme.bookings import idempotency, service
from bookme.bookings.schemas import (
    BookingCancelSchema,
    BookingCreateSchema,
    BookingEventSchema,
    BookingQueryArgsSchema,
    BookingRescheduleSchema,
    BookingSchema,
    IdempotencyHeaderSchema,
    ManagedBookingSchema,
    PublicBookingCreatedSchema,
    PublicBookingCreateSchema,
    PublicRescheduleSchema,
)
from bookme.core import clock, errors, tenancy
from bookme.core.api import Blueprint, ProblemSchema
from bookme.core.ratelimit import client_address
from bookme.extensions import limiter
from bookme.users import access

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "bookings",
    __name__,
    description=(
        "Bookings and their lifecycle. Members read and create bookings; owners and managers "
        "change any booking, staff members only their own. Public endpoints let customers "
        "book and manage their booking through its private token."
    ),
)

PUBLIC_PER_ADDRESS = "20/minute"
PUBLIC_PER_PHONE = "5/hour"


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


# --- access and rate-limit plumbing ---------------------------------------------------------------


def _may_change(fn: F) -> F:
    """After `access.member()`: a staff member reaches only their own bookings (before the body)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        service.authorize_change(**_ctx(), booking_id=kwargs["booking_id"])
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _manage_token(fn: F) -> F:
    """No account and no tenant header: the token names its booking, and so its tenant."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenancy.activate(service.tenant_for_manage_token(kwargs["manage_token"]))
        g.actor = access.CUSTOMER
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("anonymous", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _phone_key() -> str | None:
    body = request.get_json(silent=True) if request.is_json else None
    customer = body.get("customer") if isinstance(body, dict) else None
    raw = customer.get("phone") if isinstance(customer, dict) else None
    if not isinstance(raw, str) or not raw.strip():
        return None
    from bookme.customers.service import normalise_phone

    try:
        return "public-booking-phone:" + normalise_phone(raw)
    except errors.BookMeError:  # not a phone number: validation answers 422 later
        return None


def _address_key() -> str:
    return "public-booking-address:" + client_address()


# --- members ------------------------------------------------------------------------------------


@blp.route("/bookings")
@access.member()
@blp.arguments(BookingQueryArgsSchema, location="query")
@blp.response(200, BookingSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 422)
def list_bookings(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """List bookings, by start time; filters from, to, staff_id, customer_id, service_id, status."""
    return service.list_bookings(**_ctx(), args=args, pagination=pagination_parameters)


@blp.route("/bookings", methods=["POST"])
@access.member()
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(BookingCreateSchema)
@blp.response(201, BookingSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def create_booking(headers: dict[str, Any], data: dict[str, Any]) -> Any:
    """Book a service (any member): 409 slot_unavailable when the time can't be booked.

    `staff_id` omitted: a free qualified staff member is assigned (fewest bookings that day,
    then a stable order). Send `customer` (found by phone or email, else created) or
    `customer_id`. The booking is confirmed at once. An `Idempotency-Key` header makes retries
    safe: the same key and request replays the first answer; a different request → 422
    `idempotency_key_reused`; while the first still runs → 409 `idempotency_in_progress`.
    """
    return service.create_booking(
        **_ctx(), now=clock.now(), data=data, idempotency_key=headers.get("idempotency_key")
    )


@blp.route("/bookings/<uuid:booking_id>")
@access.member()
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404)
def get_booking(booking_id: uuid.UUID) -> Any:
    """Get a booking."""
    return service.get_booking(**_ctx(), booking_id=booking_id)


@blp.route("/bookings/<uuid:booking_id>/events")
@access.member()
@blp.response(200, BookingEventSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_booking_events(booking_id: uuid.UUID, pagination_parameters: PaginationParameters) -> Any:
    """The booking's audit trail, oldest first."""
    return service.list_events(**_ctx(), booking_id=booking_id, pagination=pagination_parameters)


@blp.route("/bookings/<uuid:booking_id>/confirm", methods=["POST"])
@access.member()
@_may_change
@blp.no_body()
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404, 409)
def confirm_booking(booking_id: uuid.UUID) -> Any:
    """Confirm a pending booking; any other status → 409 invalid_transition."""
    return service.change_status(**_ctx(), now=clock.now(), booking_id=booking_id, action="confirm")


@blp.route("/bookings/<uuid:booking_id>/complete", methods=["POST"])
@access.member()
@_may_change
@blp.no_body()
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404, 409)
def complete_booking(booking_id: uuid.UUID) -> Any:
    """Mark a confirmed booking completed, once it has started; else 409 invalid_transition."""
    return service.change_status(
        **_ctx(), now=clock.now(), booking_id=booking_id, action="complete"
    )


@blp.route("/bookings/<uuid:booking_id>/no-show", methods=["POST"])
@access.member()
@_may_change
@blp.no_body()
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404, 409)
def mark_no_show(booking_id: uuid.UUID) -> Any:
    """Mark a confirmed booking a no-show, once it has started; else 409 invalid_transition."""
    return service.change_status(**_ctx(), now=clock.now(), booking_id=booking_id, action="no_show")


@blp.route("/bookings/<uuid:booking_id>/cancel", methods=["POST"])
@access.member()
@_may_change
@blp.arguments(BookingCancelSchema)
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def cancel_booking(data: dict[str, Any], booking_id: uuid.UUID) -> Any:
    """Cancel a pending or confirmed booking, with an optional `reason`; its time frees at once."""
    return service.change_status(
        **_ctx(), now=clock.now(), booking_id=booking_id, action="cancel", reason=data.get("reason")
    )


@blp.route("/bookings/<uuid:booking_id>/reschedule", methods=["POST"])
@access.member()
@_may_change
@blp.arguments(BookingRescheduleSchema)
@blp.response(200, BookingSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def reschedule_booking(data: dict[str, Any], booking_id: uuid.UUID) -> Any:
    """Move a pending or confirmed booking; unavailable → 409 and the old time is kept.

    `staff_id` omitted keeps the same staff member. The new time takes the service's current
    duration and buffers.
    """
    return service.reschedule_booking(
        **_ctx(),
        now=clock.now(),
        booking_id=booking_id,
        starts_at=data["starts_at"],
        staff_id=data.get("staff_id"),
    )


# --- public -------------------------------------------------------------------------------------


@blp.route("/public/bookings", methods=["POST"])
@limiter.limit(PUBLIC_PER_ADDRESS, key_func=_address_key)
@limiter.limit(
    PUBLIC_PER_PHONE,
    key_func=lambda: _phone_key() or "-",
    exempt_when=lambda: _phone_key() is None,
    # A retry with an Idempotency-Key already answered books nothing again.
    deduct_when=lambda _response: not idempotency.is_retry(),
)
@access.public
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(PublicBookingCreateSchema)
@blp.response(201, PublicBookingCreatedSchema)
@blp.alt_response(
    502,
    schema=ProblemSchema,
    content_type=errors.PROBLEM_MIMETYPE,
    description="The payment provider refused or could not be reached (`provider_error`); "
    "nothing was booked.",
)
@blp.problems(400, 403, 404, 409, 422, 429)
def create_public_booking(headers: dict[str, Any], data: dict[str, Any]) -> Any:
    """Book as a customer (no account): 201 with the booking and its `manage_token`, shown once.

    The customer is found by phone (else email) or created. Rate-limited: 20 a minute per
    client address, 5 an hour per phone number (429 `rate_limited` with Retry-After); a
    retry of an Idempotency-Key already answered or in progress is not counted per phone.
    `Idempotency-Key` works as on `POST /bookings`, scoped to the client address.

    A service asking for online payment (a deposit or all of it) takes `payment_provider`
    (`stripe`, the default, or `paypal`): the booking is `pending` until `payment_due_at` and
    the 201 carries the `payment` to complete. A provider the business has not set up → 422
    `provider_not_configured`; a provider that fails → 502 `provider_error`; either way
    nothing is booked.
    """
    return service.create_public_booking(
        **_ctx(),
        now=clock.now(),
        data=data,
        client=client_address(),
        idempotency_key=headers.get("idempotency_key"),
    )


@blp.route("/public/bookings/<string:manage_token>")
@_manage_token
@blp.response(200, ManagedBookingSchema)
@blp.problems(403, 404)
def get_managed_booking(manage_token: str) -> Any:
    """The customer's view of their booking, by its manage token (no tenant header needed)."""
    return service.get_managed_booking(
        tenant=access.current_tenant(), token=manage_token, now=clock.now()
    )


@blp.route("/public/bookings/<string:manage_token>/cancel", methods=["POST"])
@_manage_token
@blp.arguments(BookingCancelSchema)
@blp.response(200, ManagedBookingSchema)
@blp.problems(400, 403, 404, 409, 422)
def cancel_managed_booking(data: dict[str, Any], manage_token: str) -> Any:
    """The customer cancels before the tenant's cutoff; later → 409 cancellation_window_passed."""
    return service.cancel_managed_booking(
        **_ctx(), now=clock.now(), token=manage_token, reason=data.get("reason")
    )


@blp.route("/public/bookings/<string:manage_token>/reschedule", methods=["POST"])
@_manage_token
@blp.arguments(PublicRescheduleSchema)
@blp.response(200, ManagedBookingSchema)
@blp.problems(400, 403, 404, 409, 422)
def reschedule_managed_booking(data: dict[str, Any], manage_token: str) -> Any:
    """The customer moves their booking before the cutoff, to a time the listing offers."""
    return service.reschedule_managed_booking(
        **_ctx(),
        now=clock.now(),
        token=manage_token,
        starts_at=data["starts_at"],
        staff_id=data.get("staff_id"),
    )
