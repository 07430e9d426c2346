"""Read models for the admin pages: what a screen shows, in a fixed number of queries.

Writes never happen here; every change goes through the modules' service functions.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from bookme.bookings import service as booking_service
from bookme.bookings.models import Booking
from bookme.core import tenancy
from bookme.core.api import page_offset
from bookme.core.db import session
from bookme.customers.models import Customer
from bookme.customers.service import search_statement
from bookme.services.models import Service
from bookme.staff.models import (
    Closure,
    DateOverride,
    DateOverrideInterval,
    Staff,
    TimeOff,
    WorkingHours,
)

DAY_MINUTES = 24 * 60
GRID_STEP = 5  # minutes per row of the calendar grid
HIDDEN_ON_CALENDAR = ("cancelled",)


def day_start(tenant: tenancy.TenantRef, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tenant.timezone))


def local_today(tenant: tenancy.TenantRef, now: datetime) -> date:
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


# --- calendar -------------------------------------------------------------------------------------


@dataclass
class Span:
    """Something placed on a calendar column, in minutes from the local day's midnight."""

    start: int
    end: int
    kind: str  # working, time_off, closed, booking
    label: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    booking: Any = None

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass
class Column:
    """One staff member on one local date."""

    staff: Staff
    day: date
    working: list[Span] = field(default_factory=list)
    time_off: list[Span] = field(default_factory=list)
    closed: list[Span] = field(default_factory=list)
    bookings: list[Span] = field(default_factory=list)


@dataclass
class Calendar:
    columns: list[Column]
    first_minute: int
    last_minute: int

    @property
    def rows(self) -> int:
        return (self.last_minute - self.first_minute) // GRID_STEP

    def row_of(self, minute: int) -> int:
        """1-based grid line of `minute`, clamped to the grid."""
        minute = min(max(minute, self.first_minute), self.last_minute)
        return (minute - self.first_minute) // GRID_STEP + 1

    @property
    def hours(self) -> list[int]:
        return list(range(self.first_minute, self.last_minute, 60))


def calendar_staff(*, only: uuid.UUID | None = None, start: datetime, end: datetime) -> list[Staff]:
    """Active staff, and inactive ones who still have bookings in [start, end); by name."""
    has_bookings = sa.select(Booking.staff_id).where(
        Booking.starts_at < end, Booking.ends_at > start
    )
    stmt = sa.select(Staff).where(sa.or_(Staff.is_active, Staff.id.in_(has_bookings)))
    if only is not None:
        stmt = sa.select(Staff).where(Staff.id == only)
    return list(session().scalars(stmt.order_by(Staff.display_name, Staff.id)))


def _minutes(moment: datetime, zone: ZoneInfo, day: date) -> int:
    """Minutes from `day`'s local midnight to `moment` (negative before, > 1440 after)."""
    local = moment.astimezone(zone)
    return (local.date() - day).days * DAY_MINUTES + local.hour * 60 + local.minute


def calendar(
    *, tenant: tenancy.TenantRef, staff: Sequence[Staff], days: Sequence[date]
) -> Calendar:
    """Working hours (date overrides replacing the week), time off, closures and bookings of
    `staff` on the local `days`: five queries whatever the number of bookings."""
    zone = ZoneInfo(tenant.timezone)
    staff_ids = [s.id for s in staff]
    start, end = day_start(tenant, days[0]), day_start(tenant, days[-1] + timedelta(days=1))
    sess = session()
    weekly: dict[tuple[uuid.UUID, int], list[tuple[int, int]]] = defaultdict(list)
    for row in sess.execute(
        sa.select(
            WorkingHours.staff_id,
            WorkingHours.weekday,
            WorkingHours.start_minute,
            WorkingHours.end_minute,
        )
        .where(
            WorkingHours.staff_id.in_(staff_ids),
            WorkingHours.weekday.in_({d.isoweekday() for d in days}),
        )
        .order_by(WorkingHours.start_minute)
    ):
        weekly[row.staff_id, row.weekday].append((row.start_minute, row.end_minute))
    overrides: dict[tuple[uuid.UUID, date], list[tuple[int, int]]] = {}
    for row in sess.execute(
        sa.select(
            DateOverride.staff_id,
            DateOverride.day,
            DateOverrideInterval.start_minute,
            DateOverrideInterval.end_minute,
        )
        .outerjoin(
            DateOverrideInterval,
            sa.and_(
                DateOverrideInterval.staff_id == DateOverride.staff_id,
                DateOverrideInterval.day == DateOverride.day,
            ),
        )
        .where(DateOverride.staff_id.in_(staff_ids), DateOverride.day.in_(list(days)))
        .order_by(DateOverrideInterval.start_minute)
    ):
        intervals = overrides.setdefault((row.staff_id, row.day), [])
        if row.start_minute is not None:
            intervals.append((row.start_minute, row.end_minute))
    time_off = list(
        sess.execute(
            sa.select(TimeOff.staff_id, TimeOff.starts_at, TimeOff.ends_at, TimeOff.reason).where(
                TimeOff.staff_id.in_(staff_ids), TimeOff.starts_at < end, TimeOff.ends_at > start
            )
        )
    )
    closures = list(
        sess.execute(
            sa.select(Closure.starts_at, Closure.ends_at, Closure.reason).where(
                Closure.starts_at < end, Closure.ends_at > start
            )
        )
    )
    bookings = list(
        sess.execute(
            sa.select(
                Booking.id,
                Booking.staff_id,
                Booking.starts_at,
                Booking.ends_at,
                Booking.status,
                Service.name.label("service_name"),
                Customer.full_name.label("customer_name"),
            )
            .join(Service, Service.id == Booking.service_id)
            .join(Customer, Customer.id == Booking.customer_id)
            .where(
                Booking.staff_id.in_(staff_ids),
                Booking.starts_at < end,
                Booking.ends_at > start,
                Booking.status.not_in(HIDDEN_ON_CALENDAR),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
    )
    columns = []
    for person in staff:
        for day in days:
            column = Column(staff=person, day=day)
            hours = overrides.get((person.id, day), weekly.get((person.id, day.isoweekday()), []))
            column.working = [Span(s, e, "working") for s, e in hours]
            for row in time_off:
                if row.staff_id == person.id:
                    column.time_off.append(_span(row, "time_off", zone, day))
            column.closed = [_span(row, "closed", zone, day) for row in closures]
            column.bookings = [
                _span(row, "booking", zone, day, booking=row)
                for row in bookings
                if row.staff_id == person.id
            ]
            column.time_off = [s for s in column.time_off if s.end > 0 and s.start < DAY_MINUTES]
            column.closed = [s for s in column.closed if s.end > 0 and s.start < DAY_MINUTES]
            column.bookings = [s for s in column.bookings if s.end > 0 and s.start < DAY_MINUTES]
            columns.append(column)
    return Calendar(columns, *_bounds(columns))


def _span(row: Any, kind: str, zone: ZoneInfo, day: date, booking: Any = None) -> Span:
    return Span(
        start=_minutes(row.starts_at, zone, day),
        end=_minutes(row.ends_at, zone, day),
        kind=kind,
        label=getattr(row, "reason", None) or "",
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        booking=booking,
    )


def _bounds(columns: Iterable[Column]) -> tuple[int, int]:
    """The hours the grid shows: 08:00-20:00, widened to whatever is worked or booked."""
    first, last = 8 * 60, 20 * 60
    for column in columns:
        for span in (*column.working, *column.bookings):
            first = min(first, max(span.start, 0))
            last = max(last, min(span.end, DAY_MINUTES))
    return first - first % 60, min(DAY_MINUTES, last + (-last) % 60)


# --- bookings list --------------------------------------------------------------------------------


def bookings_statement(
    *, tenant: tenancy.TenantRef, args: dict[str, Any], q: str | None = None
) -> sa.Select[Any]:
    """Bookings with their service, staff and customer names, filtered as the API's
    `list_bookings` filters (same arguments), plus a customer search; by start time."""
    staff = aliased(Staff)
    stmt = (
        sa.select(
            Booking,
            Service.name.label("service_name"),
            staff.display_name.label("staff_name"),
            Customer.full_name.label("customer_name"),
            Customer.phone.label("customer_phone"),
            Customer.email.label("customer_email"),
        )
        .join(Service, Service.id == Booking.service_id)
        .join(staff, staff.id == Booking.staff_id)
        .join(Customer, Customer.id == Booking.customer_id)
    )
    stmt = booking_service.filtered(stmt, tenant=tenant, args=args)
    if q:
        matching = search_statement(q=q).with_only_columns(Customer.id).order_by(None)
        stmt = stmt.where(Booking.customer_id.in_(matching))
    return stmt.order_by(Booking.starts_at, Booking.id)


def count(stmt: sa.Select[Any]) -> int:
    return int(
        session().scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
        or 0
    )


def page(stmt: sa.Select[Any], number: int, size: int) -> list[Any]:
    return list(session().execute(stmt.limit(size).offset(page_offset(number, size))))


# --- small lookups for forms and filters ---------------------------------------------------------


def staff_choices(*, active_only: bool = False) -> list[Staff]:
    stmt = sa.select(Staff).where(Staff.deleted_at.is_(None)).order_by(Staff.display_name, Staff.id)
    if active_only:
        stmt = stmt.where(Staff.is_active)
    return list(session().scalars(stmt))


def service_choices(*, active_only: bool = False) -> list[Service]:
    stmt = sa.select(Service).where(Service.deleted_at.is_(None)).order_by(Service.name, Service.id)
    if active_only:
        stmt = stmt.where(Service.is_active)
    return list(session().scalars(stmt))


def booking_row(booking_id: uuid.UUID) -> Any:
    """One booking with its names (the detail page), or None."""
    stmt = bookings_statement(tenant=tenancy.require(), args={}).where(Booking.id == booking_id)
    return session().execute(stmt).first()


# --- free slots ---------------------------------------------------------------------------------


def free_slots(
    *,
    tenant: tenancy.TenantRef,
    service_id: uuid.UUID,
    day_from: date,
    day_to: date,
    staff_id: uuid.UUID | None,
    now: datetime,
    moving: Any = None,
) -> list[dict[str, Any]]:
    """The availability SQL's free start times (`bookings.availability.list_slots`), each with
    `starts_at` as an aware datetime whichever way the API body renders it; [] when the
    service or staff member is not bookable. With `moving` (a booking being rescheduled),
    that booking's own time does not block, so it can move by less than its length, and the
    time it already has with its own staff member is not offered."""
    from bookme.bookings.availability import list_slots
    from bookme.core import errors

    try:
        found = list_slots(
            tenant=tenant,
            service_id=service_id,
            date_from=day_from,
            date_to=day_to,
            staff_id=staff_id,
            now=now,
            exclude_booking_id=moving.id if moving is not None else None,
        )
    except errors.NotFound:
        return []
    zone = ZoneInfo(tenant.timezone)
    slots = [
        {
            **slot,
            "starts_at": _aware(slot["starts_at"]).astimezone(zone),
            "ends_at": _aware(slot["ends_at"]).astimezone(zone),
        }
        for slot in found["slots"]
    ]
    if moving is not None and staff_id == moving.staff_id:  # not "move" to where it is
        slots = [s for s in slots if s["starts_at"] != moving.starts_at]
    return slots


def _aware(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
