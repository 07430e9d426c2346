"""The SQL and the plain-Python reference agree on random schedules, across offset changes.

Each example writes a random world (weekly hours with split shifts, overrides and days off,
time off, closures, bookings in every status with live and expired holds) into the test
tenant, asks the SQL for the slot list and for the booking check at chosen instants, asks
`bookme.bookings.reference` the same, and deletes the world again (the slot list commits its
read-only unit of work, so a savepoint would not survive it).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bookme.bookings import availability, reference
from bookme.bookings import service as bookings
from bookme.core import errors
from bookme.core.db import session
from tests.availability.helpers import customer_id, insert_booking
from tests.factories import use_tenant

# Local dates around each zone's offset changes in 2027 (Casablanca: Ramadan, to UTC+0 on
# 2027-02-07 and back to UTC+1 on 2027-03-14; Paris and New York: summer time).
ANCHORS = {
    "Africa/Casablanca": [date(2027, 2, 7), date(2027, 3, 14)],
    "Europe/Paris": [date(2027, 3, 28), date(2027, 10, 31)],
    "America/New_York": [date(2027, 3, 14), date(2027, 11, 7)],
    "UTC": [date(2027, 3, 14)],
}
# Weighted toward the statuses whose rules are subtle (pending, with or without a live hold).
STATUSES = (
    "pending",
    "pending",
    "pending",
    "confirmed",
    "confirmed",
    "cancelled",
    "completed",
    "no_show",
)
EXAMPLES = 150


@st.composite
def intervals(draw, allow_empty=True):
    """Non-overlapping [start, end) minutes of a day; back-to-back shifts happen on purpose,
    and so do shifts starting between 00:00 and 03:30, where the offsets change (some of
    them running on well past the change, where the slot grid counts in local time)."""
    result = []
    cursor = 0
    if draw(st.integers(0, 2)) == 0:
        start = draw(st.sampled_from([0, 45, 90, 120, 135, 150, 165, 180, 210]))
        end = start + draw(st.sampled_from([15, 30, 45, 60, 90, 180, 240, 270, 330]))
        result.append((start, end))
        cursor = end
    for _ in range(draw(st.integers(0 if allow_empty else 1, 3))):
        gap = draw(st.sampled_from([0, 0, 15, 30, 60, 90, 120, 180, 300, 480]))
        length = draw(st.sampled_from([15, 30, 45, 60, 90, 120, 150, 180, 240, 360, 600, 1440]))
        start = cursor + gap
        if start >= 1440:
            break
        end = min(1440, start + length)
        result.append((start, end))
        cursor = end
    return result


@st.composite
def worlds(draw):
    zone = draw(st.sampled_from(sorted(ANCHORS)))
    anchor = draw(st.sampled_from(ANCHORS[zone]))
    date_from = anchor - timedelta(days=draw(st.integers(0, 3)))
    date_to = date_from + timedelta(days=draw(st.integers(0, 4)))
    days = [date_from + timedelta(days=n) for n in range(-1, (date_to - date_from).days + 2)]
    tz = ZoneInfo(zone)

    service = reference.Service(
        id=uuid.uuid4(),
        duration_minutes=draw(st.sampled_from([5, 15, 20, 30, 45, 60, 90, 120, 240])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 5, 10, 15, 30, 60])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 5, 10, 15, 30, 60])),
        slot_interval_minutes=draw(st.sampled_from([5, 10, 15, 20, 30, 45, 45, 60, 90, 90])),
        min_notice_minutes=draw(st.sampled_from([0, 0, 0, 30, 60, 120, 1440])),
        max_advance_days=draw(st.integers(1, 10)),
        is_active=draw(st.integers(0, 19).map(bool)),
    )
    other_service = uuid.uuid4()
    staff = []
    for index in range(draw(st.integers(2, 4))):
        qualified = draw(st.integers(0, 6).map(bool))
        weekly = {
            wd: draw(intervals(allow_empty=False)) for wd in range(1, 8) if draw(st.integers(0, 5))
        }
        overrides = {}
        for day in days[1:-1]:
            if draw(st.integers(0, 3)) == 0:
                overrides[day] = draw(intervals())
        staff.append(
            reference.Staff(
                id=uuid.uuid4(),
                display_name=f"Staff {index}",
                service_ids=frozenset([service.id if qualified else other_service]),
                is_active=draw(st.integers(0, 6).map(bool)),
                weekly=weekly,
                overrides=overrides,
            )
        )

    def moment(member=None):
        """Mostly near someone's working hours, where busy time changes the answer."""
        member = member or draw(st.sampled_from(staff))
        day = draw(st.sampled_from(days))
        spans = member.overrides.get(day, member.weekly.get(day.isoweekday(), ()))
        if spans and draw(st.integers(0, 4)):
            start, end = draw(st.sampled_from(spans))
            minute = draw(st.sampled_from([start, end, start + (end - start) // 2]))
            minute += draw(st.integers(-24, 24)) * 5
        else:
            minute = draw(st.integers(0, 287)) * 5
        return reference.to_instant(tz, day, minute)

    staff = [
        dataclasses.replace(
            member,
            time_off=tuple(
                (start, start + timedelta(minutes=draw(st.integers(1, 48)) * 15))
                for start in [moment(member) for _ in range(draw(st.integers(0, 2)))]
            ),
        )
        for member in staff
    ]
    closures = []
    for _ in range(draw(st.integers(0, 2))):
        start = moment()
        closures.append((start, start + timedelta(minutes=draw(st.integers(1, 24)) * 30)))
    # Now: sometimes days before the range, often right around a working day's slots.
    if draw(st.booleans()):
        now = moment() - timedelta(minutes=draw(st.integers(0, 48)) * 30)
    else:
        now = datetime.combine(date_from, time(), UTC) - timedelta(
            minutes=draw(st.integers(-2 * 1440, 3 * 1440))
        )
    now += timedelta(seconds=draw(st.sampled_from([0, 0, 1, 59])))
    bookings = []
    for _ in range(draw(st.integers(0, 12))):
        # Mostly someone who can be booked, so the booking can hide a listed slot.
        bookable = [m for m in staff if m.is_active and service.id in m.service_ids]
        who = draw(st.sampled_from(bookable if bookable and draw(st.integers(0, 3)) else staff))
        start = moment(who)
        end = start + timedelta(minutes=draw(st.sampled_from([15, 30, 45, 60, 90, 120])))
        blocked = (
            start - timedelta(minutes=draw(st.sampled_from([0, 0, 10, 15, 30]))),
            end + timedelta(minutes=draw(st.sampled_from([0, 0, 10, 15, 30]))),
        )
        status = draw(st.sampled_from(STATUSES))
        due = None
        if status == "pending" and draw(st.integers(0, 2)):
            # A payment hold, mostly expired (at or before now), else still running.
            due = now + timedelta(minutes=draw(st.sampled_from([-90, -1, 0, 0, 1, 90])))
        # The exclusion constraint admits no overlapping pending/confirmed ranges per staff.
        if status in ("pending", "confirmed") and any(
            b.staff_id == who.id
            and b.status in ("pending", "confirmed")
            and b.blocked[0] < blocked[1]
            and blocked[0] < b.blocked[1]
            for b in bookings
        ):
            status = "cancelled"
        bookings.append(
            reference.Booking(
                id=uuid.uuid4(),
                staff_id=who.id,
                starts_at=start,
                blocked=blocked,
                status=status,
                payment_due_at=due,
            )
        )
    world = reference.World(
        timezone=zone,
        services=[service],
        staff=staff,
        closures=tuple(closures),
        bookings=tuple(bookings),
    )
    staff_filter = draw(st.one_of(st.none(), st.none(), st.sampled_from(staff).map(lambda s: s.id)))
    return world, date_from, date_to, now, staff_filter, other_service


def write(world: reference.World, other_service: uuid.UUID) -> None:
    """The world as rows of the tenant's tables, with plain SQL."""
    sess = session()
    run = sess.execute
    for service_id, s in [(s.id, s) for s in world.services] + [(other_service, None)]:
        run(
            sa.text(
                "INSERT INTO services (id, name, duration_minutes, price, currency,"
                " buffer_before_minutes, buffer_after_minutes, slot_interval_minutes,"
                " min_notice_minutes, max_advance_days, is_active)"
                " VALUES (:id, :name, :d, 0, 'MAD', :bb, :ba, :iv, :mn, :ma, :active)"
            ),
            {
                "id": service_id,
                "name": f"Service {service_id.hex[:8]}",
                "d": s.duration_minutes if s else 30,
                "bb": s.buffer_before_minutes if s else 0,
                "ba": s.buffer_after_minutes if s else 0,
                "iv": s.slot_interval_minutes if s else 15,
                "mn": s.min_notice_minutes if s else 0,
                "ma": s.max_advance_days if s else 60,
                "active": s.is_active if s else True,
            },
        )
    for member in world.staff:
        run(
            sa.text("INSERT INTO staff (id, display_name, is_active) VALUES (:id, :n, :a)"),
            {"id": member.id, "n": member.display_name, "a": member.is_active},
        )
        for service_id in member.service_ids:
            run(
                sa.text("INSERT INTO staff_services (staff_id, service_id) VALUES (:s, :v)"),
                {"s": member.id, "v": service_id},
            )
        hours = [
            {"s": member.id, "w": wd, "a": a, "b": b}
            for wd, spans in member.weekly.items()
            for a, b in spans
        ]
        if hours:
            run(
                sa.text(
                    "INSERT INTO working_hours (staff_id, weekday, start_minute, end_minute)"
                    " VALUES (:s, :w, :a, :b)"
                ),
                hours,
            )
        for day, spans in member.overrides.items():
            run(
                sa.text("INSERT INTO date_overrides (staff_id, day) VALUES (:s, :d)"),
                {"s": member.id, "d": day},
            )
            for a, b in spans:
                run(
                    sa.text(
                        "INSERT INTO date_override_intervals (staff_id, day, start_minute,"
                        " end_minute) VALUES (:s, :d, :a, :b)"
                    ),
                    {"s": member.id, "d": day, "a": a, "b": b},
                )
        for a, b in member.time_off:
            run(
                sa.text("INSERT INTO time_off (staff_id, starts_at, ends_at) VALUES (:s, :a, :b)"),
                {"s": member.id, "a": a, "b": b},
            )
    for a, b in world.closures:
        run(sa.text("INSERT INTO closures (starts_at, ends_at) VALUES (:a, :b)"), {"a": a, "b": b})
    if world.bookings:
        customer = customer_id()
        for b in world.bookings:
            insert_booking(
                booking_id=b.id,
                service_id=world.services[0].id,
                staff_id=b.staff_id,
                customer=customer,
                starts_at=b.starts_at,
                ends_at=b.starts_at + timedelta(minutes=5),
                blocked=b.blocked,
                status=b.status,
                payment_due_at=b.payment_due_at,
            )


def wipe() -> None:
    """Delete every row `write` made (the test tenant holds nothing else)."""
    sess = session()
    sess.rollback()
    for table in (
        "bookings",
        "customers",
        "time_off",
        "closures",
        "date_override_intervals",
        "date_overrides",
        "working_hours",
        "staff_services",
        "staff",
        "services",
    ):
        sess.execute(sa.text(f"DELETE FROM {table}"))
    sess.commit()


def probes(world, listed, date_from, date_to, now) -> list[tuple[datetime, uuid.UUID | None]]:
    """(instant, booking to ignore) pairs to ask the booking check about: listed starts, near
    misses, grid points beside bookings (ignoring that booking half the time, as a reschedule
    does) and around the minimum-notice edge."""
    service = world.services[0]
    zone = ZoneInfo(world.timezone)
    step = timedelta(minutes=service.slot_interval_minutes)

    def on_grid(member_id, day):
        return reference.grid(world, service_id=service.id, staff_id=member_id, day=day)

    picks = [s.starts_at for s in listed[:4]]
    picks += [s.starts_at + timedelta(minutes=5) for s in listed[:2]]
    picks += [s.starts_at - timedelta(seconds=1) for s in listed[:1]]
    for member in world.staff[:2]:
        # Grid points the list may have dropped (taken, too soon, out of hours, off the list).
        for day in (date_from, date_to):
            for minute in sorted({a for spans in member.weekly.values() for a, _ in spans})[:2]:
                start = reference.to_instant(zone, day, minute)
                picks += [start, start + step]
        # The minimum-notice edge: the last grid point before it and the first at or after.
        earliest = now + timedelta(minutes=service.min_notice_minutes)
        local = earliest.astimezone(zone).date()
        points = sorted(
            {t for day in (local - timedelta(days=1), local) for t in on_grid(member.id, day)}
        )
        picks += [t for t in points if t < earliest][-1:] + [t for t in points if t >= earliest][:1]
    pairs: list[tuple[datetime, uuid.UUID | None]] = [(at, None) for at in picks]
    for index, booking in enumerate(world.bookings[:4]):
        # Grid points next to a booking: where its status and hold decide the answer.
        day = booking.starts_at.astimezone(zone).date()
        near = [
            start
            for start in on_grid(booking.staff_id, day)
            if abs(start - booking.starts_at) <= timedelta(hours=2)
        ]
        for n, at in enumerate(near[:: max(1, len(near) // 3)][:3]):
            pairs.append((at, booking.id if (index + n) % 2 else None))
    return pairs


def test_sql_and_reference_agree_on_random_worlds(tenant):
    home = use_tenant(tenant)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(worlds())
    def check(case):
        world, date_from, date_to, now, staff_filter, other_service = case
        ref = dataclasses.replace(home, timezone=world.timezone)
        service = world.services[0]
        try:
            write(world, other_service)
            # Committed into the test's outer transaction, as the slot list's own COMMIT
            # would do anyway; `wipe` deletes it again.
            session().commit()
            expected = reference.slots(
                world,
                service_id=service.id,
                date_from=date_from,
                date_to=date_to,
                now=now,
                staff_ids=None if staff_filter is None else [staff_filter],
            )
            bookable_staff = {
                s.id for s in world.staff if s.is_active and service.id in s.service_ids
            }
            try:
                body = availability.list_slots(
                    tenant=ref,
                    service_id=service.id,
                    date_from=date_from,
                    date_to=date_to,
                    staff_id=staff_filter,
                    now=now,
                )
            except errors.NotFound:
                assert not service.is_active or staff_filter not in bookable_staff
                assert expected == []
                body = None
            if body is not None:
                assert service.is_active
                assert staff_filter is None or staff_filter in bookable_staff
                got = [
                    reference.Slot(
                        datetime.fromisoformat(s["starts_at"]).astimezone(UTC),
                        datetime.fromisoformat(s["ends_at"]).astimezone(UTC),
                        tuple(uuid.UUID(i) for i in s["staff_ids"]),
                    )
                    for s in body["slots"]
                ]
                note(f"got {len(got)} slots, expected {len(expected)}")
                assert got == expected
                for slot in body["slots"]:
                    # Each instant carries the tenant's offset at that instant.
                    for text in (slot["starts_at"], slot["ends_at"]):
                        moment = datetime.fromisoformat(text)
                        assert (
                            moment.utcoffset()
                            == moment.astimezone(ZoneInfo(world.timezone)).utcoffset()
                        )
            for at, exclude in probes(world, expected, date_from, date_to, now):
                note(f"at {at.isoformat()} exclude={exclude}")
                want = reference.free_staff_at(
                    world,
                    service_id=service.id,
                    starts_at=at,
                    now=now,
                    exclude_booking_id=exclude,
                )
                have = availability.free_staff_at(
                    tenant=ref,
                    service_id=service.id,
                    starts_at=at,
                    now=now,
                    exclude_booking_id=exclude,
                )
                assert have == want
                if exclude is None:  # the create path reads it beside the service row
                    row, _, free = bookings.booking_inputs(
                        tenant=ref, service_id=service.id, staff_id=None, starts_at=at, now=now
                    )
                    assert (row.id, free) == (service.id, want)
            for slot in expected[:3]:
                # One rule: whoever is listed at a start passes the booking check there.
                free = availability.free_staff_at(
                    tenant=ref,
                    service_id=service.id,
                    starts_at=slot.starts_at,
                    now=now,
                    staff_ids=list(slot.staff_ids),
                )
                assert sorted(free) == sorted(slot.staff_ids)
        finally:
            wipe()

    check()
