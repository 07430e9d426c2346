"""Booking use cases: create (members and public), lifecycle, reschedule, the manage link.

One rule for listing and booking: a write checks the requested instant with the availability
SQL (`availability.free_staff_at`) inside its own transaction, then writes; the exclusion
constraint `ex_bookings_no_overlap` is the last guard. New bookings go in with
`INSERT … ON CONFLICT DO NOTHING`: PostgreSQL's speculative insertion backs off instead of
deadlocking when concurrent inserts overlap, so a racing loser simply gets no row back and
moves on to the next candidate or answers 409. Writes that keep a row active without that
insert path (confirm, reschedule) take a per-staff transaction advisory lock, so two of them
never wait on each other's index entries.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Response, current_app
from flask_smorest.pagination import PaginationParameters
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range

from bookme.bookings import availability, idempotency
from bookme.bookings.models import (
    ACTIVE_STATUSES,
    NO_OVERLAP,
    Booking,
    BookingEvent,
    ManageToken,
)
from bookme.bookings.schemas import (
    BookingSchema,
    PublicBookingCreatedSchema,
    resolve_bound,
)
from bookme.core import crypto, errors, events, sql, tenancy
from bookme.core.api import paginate
from bookme.core.db import columns_of, driver_rows, row_class, session, transactional
from bookme.core.ids import uuid7
from bookme.customers.models import Customer
from bookme.services.models import Service
from bookme.staff.models import Staff

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bookme.users.access import Actor

DEFAULT_CANCELLATION_CUTOFF_HOURS = 24
EXPIRED_HOLD_REASON = "payment_expired"

errors.on_constraint(
    NO_OVERLAP, lambda: errors.SlotUnavailable("This time was just taken; pick another.")
)

# Domain events other modules subscribe to (communications, payments), emitted inside the
# transaction with booking=, tenant=, actor=, now=, data=.
CREATED = "booking.created"
CONFIRMED = "booking.confirmed"
RESCHEDULED = "booking.rescheduled"
CANCELLED = "booking.cancelled"
COMPLETED = "booking.completed"
NO_SHOW = "booking.no_show"
# A public booking's checkout (payments): before its transaction, with it, and when it failed.
CHECKOUT = "booking.checkout"
CHECKOUT_BOOKED = "booking.checkout_booked"
CHECKOUT_ABANDONED = "booking.checkout_abandoned"
# The customer's view of a booking is being built (payments add theirs to `view.payments`).
MANAGED = "booking.managed"

# action → (statuses it may leave, status it reaches, event type, domain event)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "confirm": (("pending",), "confirmed", "confirmed", CONFIRMED),
    "cancel": (("pending", "confirmed"), "cancelled", "cancelled", CANCELLED),
    "complete": (("confirmed",), "completed", "completed", COMPLETED),
    "no_show": (("confirmed",), "no_show", "no_show", NO_SHOW),
}


# --- small helpers ------------------------------------------------------------------------------


def _zone(tenant: tenancy.TenantRef) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(tenant.timezone)


def _local(tenant: tenancy.TenantRef, moment: datetime, fmt: str = "%H:%M") -> str:
    return moment.astimezone(_zone(tenant)).strftime(fmt)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _lock_staff(staff_id: uuid.UUID) -> None:
    """Serialise writes that re-check the exclusion constraint for one staff member."""
    key = int.from_bytes(staff_id.bytes[:8], "big", signed=True)
    session().execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _record(
    booking: Booking,
    type_: str,
    *,
    actor: Actor,
    now: datetime,
    from_status: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    session().add(
        BookingEvent(
            booking_id=booking.id,
            type=type_,
            from_status=from_status,
            to_status=booking.status,
            actor=actor.as_dict(),
            data=data or {},
            created_at=now,
        )
    )


def _emit(
    name: str,
    booking: Booking,
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    events.emit(name, booking=booking, tenant=tenant, actor=actor, now=now, data=data or {})


def _blocked(service: Service, starts_at: datetime) -> tuple[datetime, Range[datetime]]:
    ends_at = starts_at + timedelta(minutes=service.duration_minutes)
    lower = starts_at - timedelta(minutes=service.buffer_before_minutes)
    upper = ends_at + timedelta(minutes=service.buffer_after_minutes)
    return ends_at, Range(lower, upper, bounds="[)")


def _field_error(field: str, message: str) -> errors.BookMeError:
    return errors.validation_error({field: [message]})


class _Refusal(Exception):
    """A 409 decided before anything was written: the unit of work commits, then it is raised.

    Ending with COMMIT rather than ROLLBACK matters for speed: psycopg deallocates every
    statement prepared on a connection at each ROLLBACK, and the availability query costs
    about five times more to plan than to run, so a storm of refusals would re-plan it on
    every request.
    """

    def __init__(self, error: errors.BookMeError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass(frozen=True)
class _Refused:
    error: errors.BookMeError


def _raise_refused(result: Any) -> Any:
    if isinstance(result, _Refused):
        raise result.error
    return result


def _service(service_id: uuid.UUID) -> Service:
    return _known_service(session().get(Service, service_id))


def _known_service(service: Service | None) -> Service:
    if service is None:
        raise _field_error("service_id", "Unknown service.")
    return service


def _staff(staff_id: uuid.UUID) -> Staff:
    staff = session().get(Staff, staff_id)
    if staff is None:
        raise _field_error("staff_id", "Unknown staff member.")
    return staff


def own_staff_id(actor: Actor) -> uuid.UUID | None:
    """The staff row of a member with the `staff` role (None when they have none)."""
    if actor.user_id is None:
        return None
    return session().scalar(sa.select(Staff.id).where(Staff.user_id == actor.user_id))


def _check_may_change(actor: Actor, booking: Booking) -> None:
    """Owners and managers change any booking; a staff member only their own."""
    if actor.kind != "user" or actor.role != "staff":
        return
    if booking.staff_id != own_staff_id(actor):
        raise errors.Forbidden("Staff members can change only their own bookings.")


def _get(booking_id: uuid.UUID, *, lock: bool = False) -> Booking:
    stmt = sa.select(Booking).where(Booking.id == booking_id)
    if lock:
        stmt = stmt.with_for_update()
    booking = session().scalars(stmt, execution_options={"populate_existing": lock}).first()
    if booking is None:
        raise errors.NotFound("No such booking.")
    return booking


def authorize_change(*, tenant: tenancy.TenantRef, actor: Actor, booking_id: uuid.UUID) -> None:
    """Before any body is read: 404 for an unknown booking, 403 for someone else's (staff)."""
    _check_may_change(actor, _get(booking_id))


def manage_url(booking: Booking) -> str:
    """The customer's self-service link, for messages: `{PUBLIC_BASE_URL}/m/{token}`."""
    token = crypto.decrypt(booking.manage_token_encrypted)
    return f"{current_app.config['BOOKME'].public_base_url}/m/{token}"


TERMS = "booking.terms"


def initial_terms(
    *, tenant: tenancy.TenantRef, service: Service, source: str, now: datetime
) -> tuple[str, datetime | None]:
    """A new booking's status and hold expiry: confirmed, no hold, unless a subscriber says so.

    The payments module subscribes to `booking.terms` (service=, source=, tenant=, now=,
    terms=) and, for a public booking of a service taking payment, sets
    `terms["status"] = "pending"` and `terms["payment_due_at"] = now + hold_minutes`; the hold
    then blocks the slot until it is paid or expires.
    """
    terms: dict[str, Any] = {"status": "confirmed", "payment_due_at": None}
    events.emit(TERMS, tenant=tenant, service=service, source=source, now=now, terms=terms)
    if terms["status"] not in ACTIVE_STATUSES:
        raise ValueError(f"a new booking cannot start {terms['status']!r}")
    if (terms["status"] == "pending") != (terms["payment_due_at"] is not None):
        raise ValueError("a pending booking needs a payment_due_at, a confirmed one none")
    return terms["status"], terms["payment_due_at"]


# --- the write path -----------------------------------------------------------------------------


def _expire_holds(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    blocked: Range[datetime],
    staff_ids: list[uuid.UUID],
) -> int:
    """Cancel expired holds of `staff_ids` overlapping `blocked`, so they never block a booking.

    SKIP LOCKED: a hold another transaction is cancelling (or paying) right now is left to it;
    an insert then waits for that transaction if it must.
    """
    rows = (
        session()
        .execute(
            sa.text(
                """
            UPDATE bookings SET status = 'cancelled', cancellation_reason = :reason,
                   cancelled_at = :now, updated_at = :now
             WHERE id IN (SELECT id FROM bookings
                           WHERE status = 'pending' AND payment_due_at <= :now
                             AND blocked && :blocked AND staff_id = ANY(:staff_ids)
                           FOR UPDATE SKIP LOCKED)
            RETURNING id
            """
            ).bindparams(sa.bindparam("blocked", type_=TSTZRANGE)),
            {"reason": EXPIRED_HOLD_REASON, "now": now, "blocked": blocked, "staff_ids": staff_ids},
        )
        .scalars()
        .all()
    )
    if rows:
        _after_expiry(tenant=tenant, now=now, booking_ids=list(rows))
    return len(rows)


def _after_expiry(
    *, tenant: tenancy.TenantRef, now: datetime, booking_ids: list[uuid.UUID]
) -> None:
    from bookme.users.access import SYSTEM

    for booking_id in booking_ids:
        booking = session().get(Booking, booking_id, populate_existing=True)
        assert booking is not None
        data = {"reason": EXPIRED_HOLD_REASON}
        _record(booking, "cancelled", actor=SYSTEM, now=now, from_status="pending", data=data)
        _emit(CANCELLED, booking, tenant=tenant, actor=SYSTEM, now=now, data=data)


@transactional
def expire_holds(*, tenant: tenancy.TenantRef, now: datetime) -> int:
    """Cancel every expired hold of the current tenant (the periodic sweep)."""
    rows = (
        session()
        .execute(
            sa.text(
                """
            UPDATE bookings SET status = 'cancelled', cancellation_reason = :reason,
                   cancelled_at = :now, updated_at = :now
             WHERE id IN (SELECT id FROM bookings
                           WHERE status = 'pending' AND payment_due_at <= :now
                           FOR UPDATE SKIP LOCKED)
            RETURNING id
            """
            ),
            {"reason": EXPIRED_HOLD_REASON, "now": now},
        )
        .scalars()
        .all()
    )
    _after_expiry(tenant=tenant, now=now, booking_ids=list(rows))
    return len(rows)


def _free_staff(
    *,
    tenant: tenancy.TenantRef,
    service_id: uuid.UUID,
    starts_at: datetime,
    staff_ids: list[uuid.UUID] | None,
    now: datetime,
    exclude_booking_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    return list(
        availability.free_staff_at(
            tenant=tenant,
            service_id=service_id,
            starts_at=starts_at,
            staff_ids=staff_ids,
            now=now,
            exclude_booking_id=exclude_booking_id,
        )
    )


_WHY = sa.text(
    """
    SELECT s.display_name, s.is_active,
           EXISTS (SELECT 1 FROM staff_services ss
                    WHERE ss.staff_id = s.id AND ss.service_id = :service_id) AS qualified,
           c.starts_at AS clash_starts_at, c.ends_at AS clash_ends_at
      FROM staff s
      LEFT JOIN LATERAL (
            SELECT b.starts_at, b.ends_at FROM bookings b
             WHERE b.staff_id = s.id AND b.status IN ('pending', 'confirmed')
               AND NOT (b.status = 'pending' AND b.payment_due_at <= :now)
               AND b.blocked && tstzrange(:blocked_from, :blocked_until)
               AND b.id IS DISTINCT FROM CAST(:exclude AS uuid)
             ORDER BY b.starts_at LIMIT 1) c ON true
     WHERE s.id = :staff_id
    """
)


def _unavailable(
    *,
    tenant: tenancy.TenantRef,
    service: Service,
    staff_id: uuid.UUID | None,
    starts_at: datetime,
    now: datetime,
    exclude_booking_id: uuid.UUID | None = None,
) -> errors.BookMeError:
    """A 409 saying, as precisely as one query knows, why this time can't be booked.

    An unknown staff member is a 422 instead (a bad reference, not a busy time).
    """
    when = f"{_local(tenant, starts_at, '%Y-%m-%d')} at {_local(tenant, starts_at)}"
    if not service.is_active:
        return errors.SlotUnavailable("This service is not bookable at the moment.")
    if staff_id is None:
        return errors.SlotUnavailable(f"Nobody is available for this service on {when}.")
    _, blocked = _blocked(service, starts_at)
    # (through psycopg directly: most answers of a conflict storm are this 409)
    rows = driver_rows(
        _WHY,
        {
            "staff_id": staff_id,
            "service_id": service.id,
            "blocked_from": blocked.lower,
            "blocked_until": blocked.upper,
            "now": now,
            "exclude": exclude_booking_id,
        },
    )
    row = rows[0] if rows else None
    if row is None:
        return _field_error("staff_id", "Unknown staff member.")
    if not row.is_active or not row.qualified:
        return errors.SlotUnavailable(f"{row.display_name} does not offer this service.")
    if row.clash_starts_at is not None:
        return errors.SlotUnavailable(
            f"{row.display_name} is already booked from {_local(tenant, row.clash_starts_at)} "
            f"to {_local(tenant, row.clash_ends_at)}."
        )
    return errors.SlotUnavailable(
        f"{row.display_name} is not available on {when}: outside working hours, time off, "
        "a closure, too soon or too far ahead, or not on the slot grid."
    )


@functools.cache
def _insert_statement() -> sa.TextClause:
    """One round trip writes the booking, its audit row and its public token index entry;
    when the booking conflicts (ON CONFLICT DO NOTHING: no row), the other two insert
    nothing either. Returns the booking's `columns_of` (for `row_class`), but for `blocked`:
    the caller has that range already, and reading it back would take psycopg's pure-Python
    range parser (about 0.1 ms of CPU a booking)."""
    returned = columns_of(Booking)
    answered = columns_of(Booking, instead={"blocked": "NULL"})
    return sa.text(
        f"""
        WITH b AS (
            INSERT INTO bookings (id, service_id, staff_id, customer_id, starts_at, ends_at,
                                  blocked, status, source, price, currency, notes,
                                  payment_status, amount_paid, payment_due_at,
                                  manage_token_hash, manage_token_encrypted, created_at,
                                  updated_at)
            VALUES (:id, :service_id, :staff_id, :customer_id, :starts_at, :ends_at,
                    tstzrange(:blocked_from, :blocked_until), :status, :source, :price,
                    :currency, :notes, 'none', 0, :payment_due_at, :manage_token_hash,
                    :manage_token_encrypted, :now, :now)
            ON CONFLICT DO NOTHING
            RETURNING {returned}
        ), token AS (
            INSERT INTO public.manage_tokens (token_hash, tenant_id, booking_id, created_at)
            SELECT manage_token_hash, :tenant_id, id, created_at FROM b
        ), audit AS (
            INSERT INTO booking_events (booking_id, type, from_status, to_status, actor, data,
                                        created_at)
            SELECT id, 'created', NULL, status, CAST(:actor AS jsonb), CAST(:data AS jsonb),
                   created_at
              FROM b
        )
        SELECT {answered} FROM b
        """
    )


def _insert(values: dict[str, Any], blocked: Range[datetime]) -> Any:
    """The new booking (a `row_class(Booking)`, `blocked` as given), or None when an
    overlapping active booking (committed or racing) exists."""
    bounds = {"blocked_from": blocked.lower, "blocked_until": blocked.upper}
    rows = driver_rows(_insert_statement(), {**values, **bounds}, named=False)
    return row_class(Booking)._make(rows[0])._replace(blocked=blocked) if rows else None


@dataclass(frozen=True)
class _Plan:
    service: Any  # its `row_class(Service)`
    candidates: list[uuid.UUID]
    ends_at: datetime
    blocked: Range[datetime]
    customer: Any  # the row of the request's `customer_id` (`row_class`), if it named one


@functools.cache
def _plan_statement() -> sa.TextClause:
    """The service, the customer named by id (NULLs when none is) and the availability SQL's
    answer for the requested instant (`sql/availability.sql`, as a lateral subquery): what
    creating a booking reads, in one round trip."""
    return sa.text(
        f"SELECT {columns_of(Service, 's')}, {columns_of(Customer, 'c')}, a.staff_ids"
        " FROM services s LEFT JOIN customers c ON c.id = :customer_id"
        f" LEFT JOIN LATERAL ({sql.load('availability')}) AS a ON true"
        " WHERE s.id = :service_id"
    )


def booking_inputs(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    service_id: uuid.UUID,
    staff_id: uuid.UUID | None,
    starts_at: datetime,
    customer_id: uuid.UUID | None = None,
) -> tuple[Any, Any, list[uuid.UUID]]:
    """The service (None: unknown), the customer of `customer_id` (None: unknown or not
    named), both read-only rows (`row_class`), and who is free at `starts_at`
    (`availability.free_staff_at`'s answer), read in one round trip."""
    rows = driver_rows(
        _plan_statement(),
        {
            **availability.params(
                tenant=tenant,
                service_id=service_id,
                now=now,
                staff_ids=[staff_id] if staff_id is not None else None,
                at=starts_at,
            ),
            "customer_id": customer_id,
        },
        named=False,
    )
    if not rows:
        return None, None, []
    services, customers = row_class(Service), row_class(Customer)
    head, split = rows[0], len(services._fields)
    customer = customers._make(head[split:-1])
    return (
        services._make(head[:split]),
        customer if customer.id is not None else None,
        next((list(row[-1]) for row in rows if row[-1]), []),
    )


def _plan(*, vet: Callable[[Any], Any] | None = None, **request: Any) -> _Plan:
    """Who is free for this booking (`booking_inputs`' arguments), read before anything is
    written; nobody → `_Refusal`, once `vet` has seen the row of `customer_id` (its errors
    are the request's own, so they come first)."""
    found, customer, candidates = booking_inputs(**request)
    service = _known_service(found)
    if vet is not None:
        vet(customer)
    if not candidates:
        why = {k: request[k] for k in ("tenant", "staff_id", "starts_at", "now")}
        raise _Refusal(_unavailable(service=service, **why))
    ends_at, blocked = _blocked(service, request["starts_at"])
    return _Plan(service, candidates, ends_at, blocked, customer)


def _book(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    service_id: uuid.UUID,
    staff_id: uuid.UUID | None,
    customer: Any,
    starts_at: datetime,
    notes: str | None,
    source: str,
    terms: tuple[str, datetime | None] | None = None,
    plan: _Plan | None = None,
    quiet_if_lost: bool = False,
) -> tuple[Any, str]:
    """Check and insert one booking for `customer` (its ORM object or row) in the current
    transaction; returns the booking (a `row_class(Booking)`) and its manage token.

    The availability SQL already ignores expired holds; only when an insert then meets one
    (no row back) are the expired holds in the way cancelled, and the insert tried again.
    A concurrent request taking the time first is a `_Refusal` when `quiet_if_lost` (the
    caller wrote nothing else), else a plain 409 that rolls the unit of work back.
    """
    plan = plan or _plan(
        tenant=tenant, now=now, service_id=service_id, staff_id=staff_id, starts_at=starts_at
    )
    service, candidates, ends_at, blocked = (
        plan.service,
        plan.candidates,
        plan.ends_at,
        plan.blocked,
    )
    status, hold_until = terms or initial_terms(
        tenant=tenant, service=service, source=source, now=now
    )
    token = crypto.new_token()
    values: dict[str, Any] = {
        "id": uuid7(),
        "service_id": service.id,
        "customer_id": customer.id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": status,
        "source": source,
        "price": service.price,
        "currency": service.currency,
        "notes": notes or None,
        "payment_due_at": hold_until,
        "manage_token_hash": crypto.token_hash(token),
        "manage_token_encrypted": crypto.encrypt(token),
        "now": now,
        "tenant_id": tenant.id,
        "actor": json.dumps(actor.as_dict()),
    }
    booking = None
    for candidate in candidates:
        data = {"source": source, "starts_at": _utc(starts_at), "staff_id": str(candidate)}
        attempt = {**values, "staff_id": candidate, "data": json.dumps(data)}
        booking = _insert(attempt, blocked)
        if booking is None and _expire_holds(
            tenant=tenant, now=now, blocked=blocked, staff_ids=[candidate]
        ):
            booking = _insert(attempt, blocked)
        if booking is not None:
            break
    if booking is None:
        taken = errors.SlotUnavailable("This time was just taken; pick another.")
        raise _Refusal(taken) if quiet_if_lost else taken
    # The customer goes with the event: the outbox needs it and would otherwise read it again.
    events.emit(
        CREATED, booking=booking, customer=customer, tenant=tenant, actor=actor, now=now,
        data=data,
    )  # fmt: skip
    return booking, token


_BOOKING_SCHEMA = BookingSchema()
_PUBLIC_CREATED_SCHEMA = PublicBookingCreatedSchema()


def _public_body(
    booking: Booking, token: str, payment: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = _PUBLIC_CREATED_SCHEMA.dump(
        {
            **_summary(booking),
            "manage_token": token,
            "manage_url": f"{current_app.config['BOOKME'].public_base_url}/m/{token}",
            **({"payment": payment} if payment else {}),
        }
    )
    return body


def _summary(booking: Booking) -> dict[str, Any]:
    return {
        name: getattr(booking, name)
        for name in (
            "id", "status", "service_id", "staff_id", "customer_id", "starts_at", "ends_at",
            "price", "currency", "payment_status", "amount_paid", "amount_due",
            "payment_due_at", "created_at",
        )
    }  # fmt: skip


@transactional
def _create_for_member(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    source: str,
    claim: idempotency.Claim | None,
) -> Response | _Refused:
    from bookme.customers import service as customers

    def customer(named: Any) -> Any:
        if "customer_id" in data:
            return customers.bookable(named)
        return _find_or_create_customer(tenant, actor, now, data["customer"], "staff")

    booked = _book_requested(
        tenant=tenant,
        actor=actor,
        now=now,
        data=data,
        source=source,
        customer=customer,
        quiet_if_lost="customer_id" in data,
    )
    if isinstance(booked, _Refused):
        return booked
    booking, _ = booked
    return _created(claim, _BOOKING_SCHEMA.dump(booking))


def _book_requested(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    source: str,
    customer: Callable[[Any], Any],
    terms: tuple[str, datetime | None] | None = None,
    quiet_if_lost: bool = False,
) -> tuple[Any, str] | _Refused:
    """The booking a create request asks for (a `row_class(Booking)`), or its refusal.

    Availability is read (`_plan`, with the row of `customer_id` if the request names one)
    before the `customer` step, which gets that row (None when unknown or not named): a
    refused time writes no customer and the unit of work can still end with COMMIT (see
    `_Refusal`).
    """
    from bookme.customers import service as customers

    if "customer" in data:
        with _customer_errors():
            customers.check_details(tenant=tenant, **data["customer"])
    try:
        plan = _plan(
            tenant=tenant,
            now=now,
            service_id=data["service_id"],
            staff_id=data.get("staff_id"),
            starts_at=data["starts_at"],
            customer_id=data.get("customer_id"),
            vet=customers.bookable if "customer_id" in data else None,
        )
        return _book(
            tenant=tenant,
            actor=actor,
            now=now,
            service_id=data["service_id"],
            staff_id=data.get("staff_id"),
            customer=customer(plan.customer),
            starts_at=data["starts_at"],
            notes=data.get("notes"),
            source=source,
            terms=terms,
            plan=plan,
            quiet_if_lost=quiet_if_lost,
        )
    except _Refusal as refusal:
        return _Refused(refusal.error)


def _created(claim: idempotency.Claim | None, body: dict[str, Any]) -> Response:
    """The 201 answer, kept under the Idempotency-Key (if any) so a retry replays it."""
    encoded = idempotency.encode(body)
    if claim is not None:
        idempotency.store(claim, 201, encoded)
    return idempotency.json_response(201, encoded)


def _find_or_create_customer(
    tenant: tenancy.TenantRef, actor: Actor, now: datetime, given: dict[str, Any], source: str
) -> Any:
    from bookme.customers import service as customers

    with _customer_errors():
        return customers.find_or_create_customer(
            tenant=tenant,
            actor=actor,
            now=now,
            full_name=given["full_name"],
            phone=given.get("phone"),
            email=given.get("email"),
            locale=given.get("locale"),
            consents=given.get("consents"),
            source=source,
        )


@contextlib.contextmanager
def _customer_errors() -> Iterator[None]:
    """The customer's fields sit under `customer` in the request body, so do their errors."""
    try:
        yield
    except errors.ValidationFailed as exc:
        raise errors.validation_error({"customer": exc.errors or {}}, exc.detail) from exc


def create_booking(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    idempotency_key: str | None = None,
    source: str = "api",
) -> Response:
    """A member books: 201 with the booking; the same Idempotency-Key replays the first answer."""
    return idempotency.run(
        scope=f"user:{actor.user_id}",
        key=idempotency_key,
        operation="create_booking",
        data=data,
        now=now,
        execute=lambda claim: _raise_refused(
            _create_for_member(
                tenant=tenant, actor=actor, now=now, data=data, source=source, claim=claim
            )
        ),
    )


@transactional
def _create_public(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    claim: idempotency.Claim | None,
    checkout: dict[str, Any],
) -> Response | _Refused:
    booked = _book_requested(
        tenant=tenant,
        actor=actor,
        now=now,
        data=data,
        source="public",
        customer=lambda _named: _find_or_create_customer(
            tenant, actor, now, data["customer"], "public_booking"
        ),
        terms=(checkout["status"], checkout["payment_due_at"]) if checkout else None,
    )
    if isinstance(booked, _Refused):
        return booked
    booking, token = booked
    if checkout:
        # Opening the payment updates the booking (its payment status): the ORM object.
        booking = session().get(Booking, booking.id)
        events.emit(
            CHECKOUT_BOOKED, booking=booking, tenant=tenant, actor=actor, now=now, checkout=checkout
        )
    return _created(claim, _public_body(booking, token, checkout.get("payment")))


def create_public_booking(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    client: str,
    idempotency_key: str | None = None,
) -> Response:
    """A customer books through the public API: 201 with the booking and its manage token."""
    return idempotency.run(
        scope=f"public:{client}"[:200],
        key=idempotency_key,
        operation="create_public_booking",
        data=data,
        now=now,
        execute=lambda claim: _checkout_public(
            tenant=tenant, actor=actor, now=now, data=data, claim=claim
        ),
    )


def _checkout_public(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    data: dict[str, Any],
    claim: idempotency.Claim | None,
) -> Response:
    """A service asking for online payment: the payments module opens the provider's payment
    first (no transaction, no row locks: `CHECKOUT` fills `checkout` with the pending terms),
    then the booking and its payment commit together; on failure the opened one is dropped."""
    checkout: dict[str, Any] = {}
    events.emit(CHECKOUT, tenant=tenant, now=now, data=data, checkout=checkout)
    try:
        return _raise_refused(  # type: ignore[no-any-return]
            _create_public(
                tenant=tenant, actor=actor, now=now, data=data, claim=claim, checkout=checkout
            )
        )
    except BaseException:
        if checkout:
            events.emit(CHECKOUT_ABANDONED, tenant=tenant, now=now, checkout=checkout)
        raise


# --- lifecycle ----------------------------------------------------------------------------------


def _apply(
    booking: Booking,
    action: str,
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> Booking:
    leaves, reaches, event_type, domain_event = TRANSITIONS[action]
    if booking.status not in leaves:
        raise errors.InvalidTransition(f"A {booking.status} booking cannot be {_PAST[action]}.")
    if action in ("complete", "no_show") and booking.starts_at > now:
        raise errors.InvalidTransition(f"A booking cannot be {_PAST[action]} before it starts.")
    if reaches in ACTIVE_STATUSES:
        _lock_staff(booking.staff_id)
    before = booking.status
    booking.status = reaches
    booking.updated_at = now
    data: dict[str, Any] = {}
    if action == "cancel":
        booking.cancelled_at = now
        booking.cancellation_reason = reason or None
        if reason:
            data["reason"] = reason
    if action == "confirm":
        booking.payment_due_at = None
    session().flush()
    _record(booking, event_type, actor=actor, now=now, from_status=before, data=data)
    _emit(domain_event, booking, tenant=tenant, actor=actor, now=now, data=data)
    return booking


_PAST = {
    "confirm": "confirmed",
    "cancel": "cancelled",
    "complete": "completed",
    "no_show": "marked as a no-show",
}


@transactional
def change_status(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    action: str,
    reason: str | None = None,
) -> Booking:
    """confirm, cancel (with an optional reason), complete, no_show; else 409 invalid_transition."""
    if action not in TRANSITIONS:
        raise ValueError(action)
    booking = _get(booking_id, lock=True)
    _check_may_change(actor, booking)
    return _apply(booking, action, tenant=tenant, actor=actor, now=now, reason=reason)


def _move(
    booking: Booking,
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    starts_at: datetime,
    staff_id: uuid.UUID | None,
) -> Booking:
    """Move a locked active booking; any failure leaves it where it was (the caller rolls back)."""
    if booking.status not in ACTIVE_STATUSES:
        raise errors.InvalidTransition(f"A {booking.status} booking cannot be rescheduled.")
    target = staff_id or booking.staff_id
    service = _service(booking.service_id)
    ends_at, blocked = _blocked(service, starts_at)
    _expire_holds(tenant=tenant, now=now, blocked=blocked, staff_ids=[target])
    _lock_staff(target)
    free = _free_staff(
        tenant=tenant,
        service_id=service.id,
        starts_at=starts_at,
        staff_ids=[target],
        now=now,
        exclude_booking_id=booking.id,
    )
    if target not in free:
        raise _Refusal(
            _unavailable(
                tenant=tenant,
                service=service,
                staff_id=target,
                starts_at=starts_at,
                now=now,
                exclude_booking_id=booking.id,
            )
        )
    data = {
        "from": {"starts_at": _utc(booking.starts_at), "staff_id": str(booking.staff_id)},
        "to": {"starts_at": _utc(starts_at), "staff_id": str(target)},
    }
    booking.starts_at = starts_at
    booking.ends_at = ends_at
    booking.blocked = blocked
    booking.staff_id = target
    booking.updated_at = now
    session().flush()  # the exclusion constraint answers here, translated by constraint name
    _record(booking, "rescheduled", actor=actor, now=now, from_status=booking.status, data=data)
    _emit(RESCHEDULED, booking, tenant=tenant, actor=actor, now=now, data=data)
    return booking


def reschedule_booking(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    starts_at: datetime,
    staff_id: uuid.UUID | None = None,
) -> Booking:
    """Move a pending or confirmed booking, atomically: unavailable → 409 and nothing changes.

    The new time takes the service's current duration and buffers, as the listing does.
    """
    return _raise_refused(  # type: ignore[no-any-return]
        _reschedule(
            tenant=tenant,
            actor=actor,
            now=now,
            booking_id=booking_id,
            starts_at=starts_at,
            staff_id=staff_id,
        )
    )


@transactional
def _reschedule(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    booking_id: uuid.UUID,
    starts_at: datetime,
    staff_id: uuid.UUID | None,
) -> Booking | _Refused:
    booking = _get(booking_id, lock=True)
    _check_may_change(actor, booking)
    if actor.role == "staff" and staff_id is not None and staff_id != booking.staff_id:
        raise errors.Forbidden("Staff members cannot hand a booking to someone else.")
    try:
        return _move(
            booking, tenant=tenant, actor=actor, now=now, starts_at=starts_at, staff_id=staff_id
        )
    except _Refusal as refusal:
        return _Refused(refusal.error)


# --- reads --------------------------------------------------------------------------------------


# Reads are units of work too, ending with COMMIT: a ROLLBACK would make psycopg deallocate the
# statements prepared on the connection (the availability query's among them).
@transactional
def get_booking(*, tenant: tenancy.TenantRef, actor: Actor, booking_id: uuid.UUID) -> Booking:
    return _get(booking_id)


@transactional
def list_bookings(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    args: dict[str, Any],
    pagination: PaginationParameters,
) -> list[Booking]:
    """Bookings starting in [from, to), filtered, in start order."""
    stmt = filtered(sa.select(Booking), tenant=tenant, args=args)
    return paginate(stmt.order_by(Booking.starts_at, Booking.id), pagination)


def filtered(stmt: sa.Select[Any], *, tenant: tenancy.TenantRef, args: dict[str, Any]) -> Any:
    """`stmt` restricted by `GET /bookings`' filters: start in [from, to) (local dates or
    instants), staff_id, customer_id, service_id, any of `status`."""
    start = resolve_bound(args.get("from_"), tenant.timezone, end=False)
    end = resolve_bound(args.get("to"), tenant.timezone, end=True)
    if start is not None:
        stmt = stmt.where(Booking.starts_at >= start)
    if end is not None:
        stmt = stmt.where(Booking.starts_at < end)
    for name in ("staff_id", "customer_id", "service_id"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Booking, name) == args[name])
    if args.get("status"):
        stmt = stmt.where(Booking.status.in_(args["status"]))
    return stmt


@transactional
def list_events(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    booking_id: uuid.UUID,
    pagination: PaginationParameters | None = None,
) -> list[BookingEvent]:
    """The audit trail, oldest first: one page of it, or all of it (the admin's detail page)."""
    _get(booking_id)
    stmt = (
        sa.select(BookingEvent)
        .where(BookingEvent.booking_id == booking_id)
        .order_by(BookingEvent.id)
    )
    if pagination is None:
        return list(session().scalars(stmt))
    return paginate(stmt, pagination)


# --- the manage link ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def tenant_for_manage_token(token: str) -> tenancy.TenantRef:
    """The tenant a manage token belongs to (through the public index); unknown → 404."""
    if not _TOKEN_RE.fullmatch(token or ""):
        raise errors.NotFound("No booking for this link.")
    row = (
        session()
        .execute(
            sa.text(
                "SELECT t.id, t.slug, t.schema_name, t.timezone, t.currency, t.locale, t.status"
                " FROM public.manage_tokens m JOIN public.tenants t ON t.id = m.tenant_id"
                " WHERE m.token_hash = :hash"
            ),
            {"hash": crypto.token_hash(token)},
        )
        .first()
    )
    if row is None:
        raise errors.NotFound("No booking for this link.")
    if row.status != "active":
        raise errors.TenantSuspended("This business is suspended.")
    return tenancy.TenantRef(
        id=row.id,
        slug=row.slug,
        schema=row.schema_name,
        timezone=row.timezone,
        currency=row.currency,
        locale=row.locale,
        status=row.status,
    )


def cancellation_cutoff_hours(tenant: tenancy.TenantRef) -> int:
    """The tenant's `cancellation_cutoff_hours` setting (24 unless set)."""
    from bookme.tenants.service import get_settings

    value = get_settings(tenant).get("cancellation_cutoff_hours")
    return value if isinstance(value, int) and value >= 0 else DEFAULT_CANCELLATION_CUTOFF_HOURS


def by_manage_token(token: str, *, lock: bool = False) -> Booking:
    """The active tenant's booking whose manage link holds `token`; unknown → 404.

    Found through `public.manage_tokens` (the one unique index of token hashes) and the
    booking's primary key: the bookings table keeps the hash but no index of its own on it.
    """
    found = (
        sa.select(ManageToken.booking_id)
        .where(
            ManageToken.token_hash == crypto.token_hash(token),
            ManageToken.tenant_id == tenancy.require().id,
        )
        .scalar_subquery()
    )
    stmt = sa.select(Booking).where(Booking.id == found)
    if lock:
        stmt = stmt.with_for_update()
    booking = session().scalars(stmt, execution_options={"populate_existing": lock}).first()
    if booking is None:
        raise errors.NotFound("No booking for this link.")
    return booking


@dataclass
class ManagedBooking:
    booking: Booking
    service: Service
    staff: Staff
    business: Any
    changeable_until: datetime
    can_change: bool
    payments: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.booking, name)


def _managed(tenant: tenancy.TenantRef, booking: Booking, now: datetime) -> ManagedBooking:
    from bookme.tenants.models import Tenant

    until = booking.starts_at - timedelta(hours=cancellation_cutoff_hours(tenant))
    view = ManagedBooking(
        booking=booking,
        service=_service(booking.service_id),
        staff=_staff(booking.staff_id),
        business=session().get(Tenant, tenant.id),
        changeable_until=until,
        can_change=booking.status in ACTIVE_STATUSES and now < until,
    )
    events.emit(MANAGED, booking=booking, tenant=tenant, now=now, view=view)
    return view


@transactional
def get_managed_booking(*, tenant: tenancy.TenantRef, token: str, now: datetime) -> ManagedBooking:
    """The customer's view of their booking."""
    return _managed(tenant, by_manage_token(token), now)


def _check_window(tenant: tenancy.TenantRef, booking: Booking, now: datetime) -> None:
    if booking.status not in ACTIVE_STATUSES:
        raise errors.InvalidTransition(f"This booking is already {booking.status}.")
    hours = cancellation_cutoff_hours(tenant)
    if now >= booking.starts_at - timedelta(hours=hours):
        raise errors.CancellationWindowPassed(
            f"Bookings can be changed online up to {hours} hours before they start; "
            "please contact the business."
        )


@transactional
def cancel_managed_booking(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, token: str, reason: str | None = None
) -> ManagedBooking:
    """The customer cancels before the tenant's cutoff, else 409 cancellation_window_passed."""
    booking = by_manage_token(token, lock=True)
    _check_window(tenant, booking, now)
    _apply(booking, "cancel", tenant=tenant, actor=actor, now=now, reason=reason)
    return _managed(tenant, booking, now)


def reschedule_managed_booking(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    token: str,
    starts_at: datetime,
    staff_id: uuid.UUID | None = None,
) -> ManagedBooking:
    """The customer moves their booking before the cutoff; the new time must be listed."""
    return _raise_refused(  # type: ignore[no-any-return]
        _reschedule_managed(
            tenant=tenant, actor=actor, now=now, token=token, starts_at=starts_at, staff_id=staff_id
        )
    )


@transactional
def _reschedule_managed(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    token: str,
    starts_at: datetime,
    staff_id: uuid.UUID | None,
) -> ManagedBooking | _Refused:
    booking = by_manage_token(token, lock=True)
    _check_window(tenant, booking, now)
    try:
        _move(booking, tenant=tenant, actor=actor, now=now, starts_at=starts_at, staff_id=staff_id)
    except _Refusal as refusal:
        return _Refused(refusal.error)
    return _managed(tenant, booking, now)


# --- the catalog asks before deleting -----------------------------------------------------------


def _future_active(column: Any, value: uuid.UUID, now: datetime) -> bool:
    return bool(
        session().scalar(
            sa.select(sa.literal(True))
            .where(column == value, Booking.status.in_(ACTIVE_STATUSES), Booking.ends_at > now)
            .limit(1)
        )
    )


@events.subscribe("service_deleting")
def _service_deleting(*, service_id: uuid.UUID, now: datetime, **_: Any) -> None:
    if _future_active(Booking.service_id, service_id, now):
        raise errors.Conflict("This service has upcoming bookings; deactivate it instead.")


@events.subscribe("staff_deleting")
def _staff_deleting(*, staff_id: uuid.UUID, now: datetime, **_: Any) -> None:
    if _future_active(Booking.staff_id, staff_id, now):
        raise errors.Conflict("This staff member has upcoming bookings; deactivate them instead.")


# Reasons the system writes (not a person's words), kept when a customer is erased.
SYSTEM_CANCELLATION_REASONS = ("payment_expired",)


@events.subscribe("customer_erased")
def _scrub_erased_customer(
    *, tenant: Any, actor: Any, now: datetime, customer_id: uuid.UUID
) -> None:
    """Erasure keeps the bookings for the business's records, without the free text about them."""
    session().execute(
        sa.update(Booking)
        .where(Booking.customer_id == customer_id)
        .values(
            notes=None,
            cancellation_reason=sa.case(
                (
                    Booking.cancellation_reason.in_(SYSTEM_CANCELLATION_REASONS),
                    Booking.cancellation_reason,
                ),
                else_=None,
            ),
            updated_at=now,
        )
    )
