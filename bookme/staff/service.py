"""Staff use cases: staff and their services, weekly hours, date overrides, time off, closures.

Owners and managers manage everyone; a `staff` member reads and changes only the schedule
of the staff row linked to their own user (`check_schedule_access`). Deleting a staff
member emits `staff_deleting(tenant, staff_id, now)` first, inside the transaction: the
bookings module subscribes and raises `errors.Conflict` when future active bookings
depend on them.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import marshmallow as ma
import sqlalchemy as sa
from flask_smorest.pagination import PaginationParameters
from sqlalchemy.orm import selectinload

from bookme.core import errors, events, tenancy
from bookme.core.api import LocalDate, paginate
from bookme.core.db import session, transactional
from bookme.services import service as catalog
from bookme.services.models import Service
from bookme.services.service import fetch
from bookme.staff.models import (
    Closure,
    DateOverride,
    DateOverrideInterval,
    Staff,
    TimeOff,
    WorkingHours,
    staff_services,
)
from bookme.staff.schemas import MAX_OVERRIDE_RANGE_DAYS, minutes_of
from bookme.users.models import Membership

if TYPE_CHECKING:
    from bookme.users.access import Actor

STAFF_DELETING = "staff_deleting"
MANAGERS = ("owner", "manager")

_Row = TypeVar("_Row")
_Period = TypeVar("_Period", TimeOff, Closure)

_USER_TAKEN = "This user is already linked to another staff member."
errors.on_constraint("uq_staff_user_id", lambda: errors.Conflict(_USER_TAKEN))
errors.on_constraint(
    "ex_working_hours_no_overlap",
    lambda: errors.validation_error({"intervals": ["Intervals overlap within a day."]}),
)
errors.on_constraint(
    "ex_date_override_intervals_no_overlap",
    lambda: errors.validation_error({"intervals": ["Intervals overlap."]}),
)
for _name in ("ck_time_off_period", "ck_closures_period"):
    errors.on_constraint(
        _name, lambda: errors.validation_error({"ends_at": ["Must be after starts_at."]})
    )


# --- writing rows (inside the caller's transaction) ---------------------------------------------


def _added(row: _Row) -> _Row:
    """A new row, flushed: its id set and the database's constraints checked."""
    session().add(row)
    session().flush()
    return row


def _deleted(row: Any) -> None:
    session().delete(row)
    session().flush()


# --- staff --------------------------------------------------------------------------------------


def _staff_query() -> sa.Select[Any]:
    return (
        sa.select(Staff)
        .where(Staff.deleted_at.is_(None))
        .options(selectinload(Staff.services))
        .order_by(Staff.display_name, Staff.id)
    )


def list_staff(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    pagination: PaginationParameters,
    is_active: bool | None = None,
    service_id: uuid.UUID | None = None,
) -> list[Staff]:
    stmt = _staff_query()
    if is_active is not None:
        stmt = stmt.where(Staff.is_active.is_(is_active))
    if service_id is not None:
        stmt = stmt.where(
            Staff.id.in_(
                sa.select(staff_services.c.staff_id).where(
                    staff_services.c.service_id == service_id
                )
            )
        )
    return paginate(stmt, pagination)


def list_service_staff(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    service_id: uuid.UUID,
    pagination: PaginationParameters,
    is_active: bool | None = None,
) -> list[Staff]:
    """Who performs a service; 404 when there is no such service."""
    catalog.get_service(tenant=tenant, actor=actor, service_id=service_id)
    return list_staff(
        tenant=tenant,
        actor=actor,
        pagination=pagination,
        is_active=is_active,
        service_id=service_id,
    )


def get_staff(*, tenant: tenancy.TenantRef, actor: Actor, staff_id: uuid.UUID) -> Staff:
    staff = fetch(Staff, Staff.id == staff_id, Staff.deleted_at.is_(None))
    if staff is None:
        raise errors.NotFound("No such staff member.")
    return staff


def _check_user(
    tenant: tenancy.TenantRef, user_id: uuid.UUID | None, exclude: uuid.UUID | None
) -> None:
    if user_id is None:
        return
    is_member = session().scalar(
        sa.select(Membership.id).where(
            Membership.tenant_id == tenant.id, Membership.user_id == user_id
        )
    )
    if is_member is None:
        raise errors.validation_error({"user_id": ["Not a member of this business."]})
    stmt = sa.select(Staff.id).where(Staff.user_id == user_id)
    if exclude is not None:
        stmt = stmt.where(Staff.id != exclude)
    if session().scalar(stmt) is not None:
        raise errors.Conflict(_USER_TAKEN)


def _services(ids: list[uuid.UUID]) -> list[Service]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = {
        s.id: s
        for s in session().scalars(
            sa.select(Service).where(Service.id.in_(wanted), Service.deleted_at.is_(None))
        )
    }
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise errors.validation_error({"service_ids": [f"No such service: {', '.join(missing)}."]})
    return [found[i] for i in wanted]


@transactional
def create_staff(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, data: dict[str, Any]
) -> Staff:
    values = dict(data)
    services = _services(values.pop("service_ids", []))
    _check_user(tenant, values.get("user_id"), exclude=None)
    staff = Staff(**values)
    staff.services = services
    return _added(staff)


@transactional
def update_staff(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    data: dict[str, Any],
) -> Staff:
    """Sets the fields given; `service_ids` replaces the set. Deactivating always works."""
    staff = get_staff(tenant=tenant, actor=actor, staff_id=staff_id)
    values = dict(data)
    if "service_ids" in values:
        staff.services = _services(values.pop("service_ids"))
    if "user_id" in values:
        _check_user(tenant, values["user_id"], exclude=staff.id)
    for key, value in values.items():
        setattr(staff, key, value)
    session().flush()
    return staff


@transactional
def delete_staff(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, staff_id: uuid.UUID
) -> None:
    """409 when future active bookings depend on them; kept out of sight while past or
    cancelled bookings name them (`catalog.delete_or_archive`)."""
    staff = get_staff(tenant=tenant, actor=actor, staff_id=staff_id)
    events.emit(STAFF_DELETING, tenant=tenant, staff_id=staff.id, now=now)
    catalog.delete_or_archive(staff, now)


# --- whose schedule -----------------------------------------------------------------------------


def check_schedule_access(*, tenant: tenancy.TenantRef, actor: Actor, staff_id: uuid.UUID) -> Staff:
    """Owners and managers reach every schedule; `staff` only the one linked to their user."""
    staff = get_staff(tenant=tenant, actor=actor, staff_id=staff_id)
    if actor.role not in MANAGERS and (actor.user_id is None or staff.user_id != actor.user_id):
        raise errors.Forbidden("You may only see and change your own schedule.")
    return staff


def _locked_staff(staff_id: uuid.UUID) -> Staff:
    """The staff row, locked so concurrent replacements of one schedule run one at a time."""
    staff = fetch(Staff, Staff.id == staff_id, Staff.deleted_at.is_(None), for_update=True)
    if staff is None:
        raise errors.NotFound("No such staff member.")
    return staff


# --- weekly hours -------------------------------------------------------------------------------


def get_working_hours(
    *, tenant: tenancy.TenantRef, actor: Actor, staff_id: uuid.UUID
) -> dict[str, list[WorkingHours]]:
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    rows = session().scalars(
        sa.select(WorkingHours)
        .where(WorkingHours.staff_id == staff_id)
        .order_by(WorkingHours.weekday, WorkingHours.start_minute)
    )
    return {"intervals": list(rows)}


@transactional
def set_working_hours(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    intervals: list[dict[str, Any]],
) -> dict[str, list[WorkingHours]]:
    """Replace the whole week at once (validated for overlaps by the schema and the database)."""
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    _locked_staff(staff_id)
    sess = session()
    sess.execute(sa.delete(WorkingHours).where(WorkingHours.staff_id == staff_id))
    sess.add_all(
        WorkingHours(
            staff_id=staff_id,
            weekday=item["weekday"],
            start_minute=minutes_of(item["start"]),
            end_minute=minutes_of(item["end"]),
        )
        for item in intervals
    )
    sess.flush()
    return get_working_hours(tenant=tenant, actor=actor, staff_id=staff_id)


# --- date overrides -----------------------------------------------------------------------------


def parse_day(text: str) -> date:
    """A path's local date, as the API reads any other: `YYYY-MM-DD` within the years that
    listing and availability take (else 422)."""
    try:
        day: date = LocalDate().deserialize(text)
    except ma.ValidationError as exc:
        raise errors.validation_error({"date": exc.messages}) from exc
    return day


def local_today(tenant: tenancy.TenantRef, now: datetime) -> date:
    return now.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()


def list_date_overrides(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    pagination: PaginationParameters,
    from_: date | None = None,
    to: date | None = None,
) -> list[DateOverride]:
    """Overrides between two local dates, inclusive (from defaults to today, range ≤ 366 days)."""
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    if from_ is None:
        from_ = (
            local_today(tenant, now)
            if to is None
            else to - timedelta(days=MAX_OVERRIDE_RANGE_DAYS - 1)
        )
    if to is None:
        to = from_ + timedelta(days=MAX_OVERRIDE_RANGE_DAYS - 1)
    stmt = (
        sa.select(DateOverride)
        .options(selectinload(DateOverride.intervals))
        .where(DateOverride.staff_id == staff_id, DateOverride.day.between(from_, to))
        .order_by(DateOverride.day)
    )
    return paginate(stmt, pagination)


def _override(staff_id: uuid.UUID, day: date) -> DateOverride | None:
    return fetch(DateOverride, DateOverride.staff_id == staff_id, DateOverride.day == day)


def get_date_override(
    *, tenant: tenancy.TenantRef, actor: Actor, staff_id: uuid.UUID, day: str
) -> DateOverride:
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    override = _override(staff_id, parse_day(day))
    if override is None:
        raise errors.NotFound("No override for this date.")
    return override


@transactional
def set_date_override(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    day: str,
    intervals: list[dict[str, Any]],
) -> DateOverride:
    """Replace the hours of one local date; no intervals makes it a day off."""
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    the_day = parse_day(day)
    _locked_staff(staff_id)
    sess = session()
    existing = _override(staff_id, the_day)
    if existing is not None:
        sess.delete(existing)
        sess.flush()
    override = DateOverride(staff_id=staff_id, day=the_day)
    override.intervals = [
        DateOverrideInterval(
            staff_id=staff_id,
            day=the_day,
            start_minute=minutes_of(item["start"]),
            end_minute=minutes_of(item["end"]),
        )
        for item in sorted(intervals, key=lambda item: minutes_of(item["start"]))
    ]
    sess.add(override)
    sess.flush()
    return override


@transactional
def delete_date_override(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, staff_id: uuid.UUID, day: str
) -> None:
    """Back to the weekly hours that day; 404 when there is no override."""
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    the_day = parse_day(day)
    existing = _override(staff_id, the_day)
    if existing is None:
        raise errors.NotFound("No override for this date.")
    _deleted(existing)


# --- periods: time off and closures -------------------------------------------------------------


def _bounds(
    tenant: tenancy.TenantRef, from_: date | datetime | None, to: date | datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Local dates become instants in the tenant's zone: `from` its start, `to` its end."""
    zone = zoneinfo.ZoneInfo(tenant.timezone)

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone)

    lower = (
        start_of(from_) if isinstance(from_, date) and not isinstance(from_, datetime) else from_
    )
    upper = (
        start_of(to + timedelta(days=1))
        if isinstance(to, date) and not isinstance(to, datetime)
        else to
    )
    if lower is not None and upper is not None and upper <= lower:
        raise errors.validation_error({"to": ["Must be after from."]})
    return lower, upper  # type: ignore[return-value]


def _overlapping(
    stmt: sa.Select[Any], model: Any, lower: datetime | None, upper: datetime | None
) -> sa.Select[Any]:
    if lower is not None:
        stmt = stmt.where(model.ends_at > lower)
    if upper is not None:
        stmt = stmt.where(model.starts_at < upper)
    return stmt.order_by(model.starts_at, model.id)


def _updated_period(row: _Period, data: dict[str, Any]) -> _Period:
    """Sets the fields given; the result must still start before it ends (else 422)."""
    for key, value in data.items():
        setattr(row, key, value)
    if row.starts_at >= row.ends_at:
        raise errors.validation_error({"ends_at": ["Must be after starts_at."]})
    session().flush()
    return row


def list_time_off(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    staff_id: uuid.UUID,
    pagination: PaginationParameters,
    from_: date | datetime | None = None,
    to: date | datetime | None = None,
) -> list[TimeOff]:
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    lower, upper = _bounds(tenant, from_, to)
    stmt = _overlapping(
        sa.select(TimeOff).where(TimeOff.staff_id == staff_id), TimeOff, lower, upper
    )
    return paginate(stmt, pagination)


def get_time_off(
    *, tenant: tenancy.TenantRef, actor: Actor, staff_id: uuid.UUID, time_off_id: uuid.UUID
) -> TimeOff:
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    row = fetch(TimeOff, TimeOff.id == time_off_id)
    if row is None or row.staff_id != staff_id:
        raise errors.NotFound("No such time off.")
    return row


@transactional
def create_time_off(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    data: dict[str, Any],
) -> TimeOff:
    check_schedule_access(tenant=tenant, actor=actor, staff_id=staff_id)
    return _added(TimeOff(staff_id=staff_id, **data))


@transactional
def update_time_off(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    time_off_id: uuid.UUID,
    data: dict[str, Any],
) -> TimeOff:
    row = get_time_off(tenant=tenant, actor=actor, staff_id=staff_id, time_off_id=time_off_id)
    return _updated_period(row, data)


@transactional
def delete_time_off(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    staff_id: uuid.UUID,
    time_off_id: uuid.UUID,
) -> None:
    _deleted(get_time_off(tenant=tenant, actor=actor, staff_id=staff_id, time_off_id=time_off_id))


def list_closures(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    pagination: PaginationParameters,
    from_: date | datetime | None = None,
    to: date | datetime | None = None,
) -> list[Closure]:
    lower, upper = _bounds(tenant, from_, to)
    return paginate(_overlapping(sa.select(Closure), Closure, lower, upper), pagination)


def get_closure(*, tenant: tenancy.TenantRef, actor: Actor, closure_id: uuid.UUID) -> Closure:
    row = fetch(Closure, Closure.id == closure_id)
    if row is None:
        raise errors.NotFound("No such closure.")
    return row


@transactional
def create_closure(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, data: dict[str, Any]
) -> Closure:
    return _added(Closure(**data))


@transactional
def update_closure(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    closure_id: uuid.UUID,
    data: dict[str, Any],
) -> Closure:
    row = get_closure(tenant=tenant, actor=actor, closure_id=closure_id)
    return _updated_period(row, data)


@transactional
def delete_closure(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, closure_id: uuid.UUID
) -> None:
    _deleted(get_closure(tenant=tenant, actor=actor, closure_id=closure_id))
