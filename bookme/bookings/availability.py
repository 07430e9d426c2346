"""Availability: which start times of a service can be booked, and with whom.

One rule serves the slot list and the booking check, both answered by `sql/availability.sql`
in one round trip. For a staff member and a local date (the tenant's time zone):

- Qualified: the staff member and the service are active and the staff member performs it.
- Working time: the date's override intervals if the date has an override (none = day off),
  else the weekly intervals of its ISO weekday. Back-to-back intervals of one date join up.
- Local wall times become instants by the later of the readings with the offsets before
  and after a nearby change: a time skipped by a spring-forward takes the earlier offset
  (02:30 becomes 03:30), a time repeated by a fall-back is its second occurrence. An
  interval whose end then lands before its start is empty.
- Grid: a slot starts where the wall clock shows the interval's start plus whole multiples
  of the service's slot interval (local time), before the interval's end. Across an offset
  change inside the interval that is not elapsed time: none of those wall times exists in a
  skipped hour, and each exists twice in a repeated one (both are starts).
- Fit: [start, start + duration) lies inside the date's working time. Buffers may reach
  outside working hours, but [start - buffer_before, end + buffer_after) must be clear of
  the staff member's time off, the tenant's closures and the blocked ranges of the staff
  member's blocking bookings (pending or confirmed, except pending with an expired payment
  hold, `payment_due_at <= now`) -- the same overlap the bookings' exclusion constraint tests.
- Notice and horizon: start >= now + min_notice_minutes, and the date is at most
  max_advance_days after today's local date (a whole last day, never half of one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bookme.core import errors, sql, tenancy
from bookme.core.db import driver_rows, transactional

MAX_DAYS = 62


def params(
    *,
    tenant: tenancy.TenantRef,
    service_id: uuid.UUID,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    staff_ids: Sequence[uuid.UUID] | None = None,
    at: datetime | None = None,
    exclude_booking_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The availability SQL's parameters, once the call is known to be sound."""
    if tenancy.require().id != tenant.id:
        raise RuntimeError("availability asked for a tenant that is not the active one")
    for moment in (now, at):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("availability takes aware datetimes only")
    return {
        "service_id": service_id,
        "tz": tenant.timezone,
        "date_from": date_from,
        "date_to": date_to,
        "staff_ids": list(staff_ids) if staff_ids is not None else None,
        "now": now,
        "at": at,
        "exclude_booking_id": exclude_booking_id,
    }


def _query(**kwargs: Any) -> list[Any]:
    return driver_rows(sql.query("availability"), params(**kwargs))


# A read that is a unit of work of its own: it ends with COMMIT, where the connection pool's
# ROLLBACK on return would make psycopg deallocate every statement prepared on the connection,
# this query's included, and PostgreSQL would plan it again on every request. The 404s and
# 422s are raised outside it, so answering them never rolls back a caller's work; inside a
# caller's unit of work it is part of that one.
@transactional
def _read_slots(**kwargs: Any) -> list[Any]:
    return _query(**kwargs)


def list_slots(
    *,
    tenant: tenancy.TenantRef,
    service_id: uuid.UUID,
    date_from: date,
    date_to: date,
    staff_id: uuid.UUID | None = None,
    now: datetime,
    exclude_booking_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The bookable slots of a service over local dates [date_from, date_to]: the API body,
    instants rendered with the tenant's offset at each and staff ids as strings.
    `exclude_booking_id` (not an API parameter) lists the times a booking could move to: its
    own blocked range does not count against them, as when it is rescheduled.

    404 when the service is unknown or inactive, or when `staff_id` is not an active staff
    member performing it: the same answer as for an unknown one, so a public caller learns
    nothing about what is hidden.
    """
    if date_to < date_from:
        raise errors.validation_error({"to": ["Must not be before `from`."]})
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise errors.validation_error({"to": [f"At most {MAX_DAYS} days from `from`."]})
    rows = _read_slots(
        tenant=tenant,
        service_id=service_id,
        now=now,
        date_from=date_from,
        date_to=date_to,
        staff_ids=None if staff_id is None else [staff_id],
        exclude_booking_id=exclude_booking_id,
    )
    head = rows[0]
    if not head.service_found:
        raise errors.NotFound("No such service.")
    if staff_id is not None and not head.staff_found:
        raise errors.NotFound("No such staff member for this service.")
    zone = ZoneInfo(tenant.timezone)
    # Rendered here, once: a week of "any staff" slots is thousands of values, and walking
    # them field by field through the response schema would cost more than the query.
    return {
        "service_id": service_id,
        "timezone": tenant.timezone,
        "from": date_from,
        "to": date_to,
        "slots": [
            {
                "starts_at": row.starts_at.astimezone(zone).isoformat(),
                "ends_at": row.ends_at.astimezone(zone).isoformat(),
                "staff_ids": [str(staff) for staff in row.staff_ids],
            }
            for row in rows
            if row.starts_at is not None
        ],
    }


def free_staff_at(
    *,
    tenant: tenancy.TenantRef,
    service_id: uuid.UUID,
    starts_at: datetime,
    staff_ids: Sequence[uuid.UUID] | None = None,
    exclude_booking_id: uuid.UUID | None = None,
    now: datetime,
) -> list[uuid.UUID]:
    """Who can be booked for `service_id` at exactly `starts_at`: the booking write path's check.

    The slot list's query restricted to that instant, so a listed slot is bookable and an
    unlisted one is not. Run it inside the booking's transaction; the exclusion constraint
    stays the last guard against a concurrent writer. Ordered for "any staff" assignment:
    fewest blocking bookings that local day first, then display name, then id. An unknown or
    inactive service, or `staff_ids=[]`, gives []. `exclude_booking_id` ignores one booking
    (the one being rescheduled).
    """
    if staff_ids is not None and not staff_ids:
        return []
    rows = _query(
        tenant=tenant,
        service_id=service_id,
        now=now,
        staff_ids=staff_ids,
        at=starts_at,
        exclude_booking_id=exclude_booking_id,
    )
    for row in rows:
        if row.starts_at is not None:
            return list(row.staff_ids)
    return []
