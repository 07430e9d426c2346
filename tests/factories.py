"""Factories for tenant data, written straight to the models (no HTTP, no access checks).

They run in the current tenant (`use_tenant(tenant_info)` activates one) and commit the
session, which under the `db` fixture only releases a savepoint: what they build survives a
request that fails and rolls its own unit of work back, and the test's outer transaction
still removes everything at the end. Times are local `HH:MM` strings in the
tenant's time zone; instants must be timezone-aware (or RFC 3339 strings with an offset).

    use_tenant(tenant)
    cut = make_service(name="Coupe", duration_minutes=30, price="80.00")
    nadia = make_staff(services=[cut], hours={1: [("09:00", "13:00"), ("14:00", "18:00")]})
    make_override(nadia, "2027-03-02", [("10:00", "14:00")])   # [] = day off
    make_time_off(nadia, "2027-03-03T09:00:00+01:00", "2027-03-03T12:00:00+01:00")
    make_closure(datetime(2027, 3, 30, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))

Also `make_category(name=, position=)` and `set_hours(staff, {weekday: [(start, end)]})`.
Service names are unique per category (case-insensitive) and category names per tenant;
the default names are numbered, so only explicit duplicates collide.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bookme.core import tenancy
from bookme.core.db import session
from bookme.services.models import Service, ServiceCategory
from bookme.staff.models import (
    Closure,
    DateOverride,
    DateOverrideInterval,
    Staff,
    TimeOff,
    WorkingHours,
)

_seq = itertools.count(1)

Interval = tuple[str, str]


def use_tenant(tenant: Any) -> tenancy.TenantRef:
    """Make `tenant` current for the factories (a conftest TenantInfo, a slug or a TenantRef)."""
    from bookme.tenants.service import tenant_ref_by_slug

    if isinstance(tenant, tenancy.TenantRef):
        ref = tenant
    else:
        ref = tenant_ref_by_slug(tenant if isinstance(tenant, str) else tenant.slug)
    tenancy.activate(ref)
    return ref


def minutes(hhmm: str) -> int:
    """`"09:30"` → 570; `"24:00"` → 1440."""
    hours, _, mins = hhmm.partition(":")
    value = int(hours) * 60 + int(mins)
    if not 0 <= value <= 1440:
        raise ValueError(hhmm)
    return value


def _instant(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("factories take aware instants only")
    return moment


def _day(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _add(obj: Any) -> Any:
    tenancy.require()
    session().add(obj)
    session().commit()
    return obj


def make_category(**kw: Any) -> ServiceCategory:
    kw.setdefault("name", f"Category {next(_seq)}")
    kw.setdefault("position", 0)
    return _add(ServiceCategory(**kw))


def make_service(**kw: Any) -> Service:
    """A bookable service; `category=` takes a ServiceCategory, `metadata=` the JSON object."""
    tenant = tenancy.require()
    category = kw.pop("category", None)
    if category is not None:
        kw["category_id"] = category.id
    if "metadata" in kw:
        kw["metadata_"] = kw.pop("metadata")
    kw.setdefault("name", f"Service {next(_seq)}")
    kw.setdefault("duration_minutes", 30)
    kw["price"] = Decimal(str(kw.get("price", "100.00")))
    kw.setdefault("currency", tenant.currency)
    kw.setdefault("buffer_before_minutes", 0)
    kw.setdefault("buffer_after_minutes", 0)
    kw.setdefault("slot_interval_minutes", 15)
    kw.setdefault("min_notice_minutes", 60)
    kw.setdefault("max_advance_days", 60)
    kw.setdefault("is_active", True)
    kw.setdefault("metadata_", {})
    return _add(Service(**kw))


def make_staff(
    services: Iterable[Service] = (),
    hours: Mapping[int, Sequence[Interval]] | None = None,
    **kw: Any,
) -> Staff:
    """A staff member performing `services`, working `hours` ({ISO weekday: [(start, end)]})."""
    kw.setdefault("display_name", f"Staff {next(_seq)}")
    kw.setdefault("is_active", True)
    staff = Staff(**kw)
    staff.services = list(services)
    _add(staff)
    if hours:
        set_hours(staff, hours)
    return staff


def set_hours(staff: Staff, hours: Mapping[int, Sequence[Interval]]) -> None:
    """Replace `staff`'s weekly hours."""
    sess = session()
    sess.query(WorkingHours).filter(WorkingHours.staff_id == staff.id).delete()
    for weekday, intervals in hours.items():
        for start, end in intervals:
            sess.add(
                WorkingHours(
                    staff_id=staff.id,
                    weekday=weekday,
                    start_minute=minutes(start),
                    end_minute=minutes(end),
                )
            )
    sess.commit()


def make_override(
    staff: Staff, day: date | str, intervals: Sequence[Interval] = ()
) -> DateOverride:
    """Replace `staff`'s hours on the local date `day`; no intervals means a day off."""
    tenancy.require()
    sess = session()
    the_day = _day(day)
    existing = sess.scalars(
        sa.select(DateOverride).where(
            DateOverride.staff_id == staff.id, DateOverride.day == the_day
        )
    ).one_or_none()
    if existing is not None:
        sess.delete(existing)
        sess.flush()
    override = DateOverride(staff_id=staff.id, day=the_day)
    override.intervals = [
        DateOverrideInterval(
            staff_id=staff.id, day=the_day, start_minute=minutes(s), end_minute=minutes(e)
        )
        for s, e in intervals
    ]
    return _add(override)


def make_time_off(
    staff: Staff, starts_at: datetime | str, ends_at: datetime | str, reason: str | None = None
) -> TimeOff:
    return _add(
        TimeOff(
            staff_id=staff.id,
            starts_at=_instant(starts_at),
            ends_at=_instant(ends_at),
            reason=reason,
        )
    )


def make_closure(
    starts_at: datetime | str, ends_at: datetime | str, reason: str | None = None
) -> Closure:
    return _add(Closure(starts_at=_instant(starts_at), ends_at=_instant(ends_at), reason=reason))
