"""The availability rules in plain Python: a slow, obvious second implementation of the SQL.

Written from the rules (see `bookme.bookings.availability`), not from `sql/availability.sql`,
so that property tests comparing the two catch a mistake in either. It works on plain data,
with every instant an aware `datetime` and all arithmetic done in UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Minutes = tuple[int, int]  # [start, end) in minutes of the local day, 0..1440
Span = tuple[datetime, datetime]  # [start, end) instants in UTC

BLOCKING = ("pending", "confirmed")


@dataclass(frozen=True)
class Service:
    id: uuid.UUID
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    slot_interval_minutes: int = 15
    min_notice_minutes: int = 0
    max_advance_days: int = 60
    is_active: bool = True


@dataclass(frozen=True)
class Staff:
    id: uuid.UUID
    display_name: str
    service_ids: frozenset[uuid.UUID]
    is_active: bool = True
    weekly: Mapping[int, Sequence[Minutes]] = field(default_factory=dict)  # ISO weekday ->
    overrides: Mapping[date, Sequence[Minutes]] = field(default_factory=dict)  # [] = day off
    time_off: Sequence[Span] = ()


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    staff_id: uuid.UUID
    starts_at: datetime
    blocked: Span
    status: str
    payment_due_at: datetime | None = None


@dataclass(frozen=True)
class World:
    timezone: str
    services: Sequence[Service]
    staff: Sequence[Staff]
    closures: Sequence[Span] = ()
    bookings: Sequence[Booking] = ()


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    staff_ids: tuple[uuid.UUID, ...]


def to_instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """Local wall time `minute` of `day` as a UTC instant.

    A wall time can be read with the offset before or after a nearby change; both readings
    agree except in a spring-forward gap (the time does not exist) or a fall-back overlap
    (it exists twice). The rule: take the later of the two readings. In a gap that is the
    offset from before the change (02:30 becomes 03:30); in an overlap, the second occurrence.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    readings = [wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    return max(readings)


def wall_time(zone: ZoneInfo, instant: datetime) -> datetime:
    """The clock time (naive) `instant` shows in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def blocks(booking: Booking, now: datetime) -> bool:
    """Pending or confirmed blocks time, except a pending booking whose payment hold expired."""
    if booking.status not in BLOCKING:
        return False
    return not (
        booking.status == "pending"
        and booking.payment_due_at is not None
        and booking.payment_due_at <= now
    )


class _Rules:
    def __init__(
        self,
        world: World,
        service_id: uuid.UUID,
        now: datetime,
        exclude_booking_id: uuid.UUID | None,
    ) -> None:
        self.world = world
        self.zone = ZoneInfo(world.timezone)
        self.now = now
        self.exclude = exclude_booking_id
        self.service = next((s for s in world.services if s.id == service_id), None)
        if self.service is not None and not self.service.is_active:
            self.service = None

    def qualified(self, only: Iterable[uuid.UUID] | None) -> list[Staff]:
        if self.service is None:
            return []
        wanted = None if only is None else set(only)
        return [
            s
            for s in self.world.staff
            if s.is_active
            and self.service.id in s.service_ids
            and (wanted is None or s.id in wanted)
        ]

    def shifts(self, staff: Staff, day: date) -> list[Span]:
        intervals = (
            staff.overrides[day]
            if day in staff.overrides
            else staff.weekly.get(day.isoweekday(), ())
        )
        spans = []
        for start, end in intervals:
            a, b = to_instant(self.zone, day, start), to_instant(self.zone, day, end)
            spans.append((a, max(a, b)))
        return spans

    def busy(self, staff: Staff) -> list[Span]:
        spans = list(staff.time_off) + list(self.world.closures)
        spans += [
            b.blocked
            for b in self.world.bookings
            if b.staff_id == staff.id and b.id != self.exclude and blocks(b, self.now)
        ]
        return spans

    def grid(self, staff: Staff, day: date) -> Iterator[datetime]:
        """Start candidates of one date: the instants of each shift whose wall-clock time is
        the shift's start plus a whole number of intervals. Each such wall time is read with
        both offsets: none is an instant in a skipped hour, both are in a repeated one."""
        assert self.service is not None
        step = timedelta(minutes=self.service.slot_interval_minutes)
        for start, end in self.shifts(staff, day):
            first = wall_time(self.zone, start)
            # Past a fall-back, the wall times of a shift's last hours exceed its end's.
            last = wall_time(self.zone, end) + timedelta(hours=3)
            found: set[datetime] = set()
            moment = first
            while moment < last:
                for fold in (0, 1):
                    instant = moment.replace(tzinfo=self.zone, fold=fold).astimezone(UTC)
                    if wall_time(self.zone, instant) == moment and start <= instant < end:
                        found.add(instant)
                moment += step
            yield from sorted(found)

    def bookable(self, staff: Staff, day: date, start: datetime, busy: list[Span]) -> bool:
        service = self.service
        assert service is not None
        today = self.now.astimezone(self.zone).date()
        if day > today + timedelta(days=service.max_advance_days):
            return False
        if start < self.now + timedelta(minutes=service.min_notice_minutes):
            return False
        end = start + timedelta(minutes=service.duration_minutes)
        if not any(a <= start and end <= b for a, b in _merge(self.shifts(staff, day))):
            return False
        blocked = (
            start - timedelta(minutes=service.buffer_before_minutes),
            end + timedelta(minutes=service.buffer_after_minutes),
        )
        return not any(_overlaps(blocked, other) for other in busy)

    def day_load(self, staff: Staff, day: date) -> int:
        return sum(
            1
            for b in self.world.bookings
            if b.staff_id == staff.id
            and b.id != self.exclude
            and blocks(b, self.now)
            and b.starts_at.astimezone(self.zone).date() == day
        )


def slots(
    world: World,
    *,
    service_id: uuid.UUID,
    date_from: date,
    date_to: date,
    now: datetime,
    staff_ids: Iterable[uuid.UUID] | None = None,
) -> list[Slot]:
    """Every bookable start in the local dates [date_from, date_to], with who is free then."""
    rules = _Rules(world, service_id, now, None)
    found: dict[datetime, set[uuid.UUID]] = {}
    names: dict[uuid.UUID, str] = {}
    for staff in rules.qualified(staff_ids):
        names[staff.id] = staff.display_name
        busy = rules.busy(staff)
        for day in _dates(date_from, date_to):
            for start in rules.grid(staff, day):
                if rules.bookable(staff, day, start, busy):
                    found.setdefault(start, set()).add(staff.id)
    assert rules.service is not None or not found
    duration = timedelta(minutes=rules.service.duration_minutes) if rules.service else None
    return [
        Slot(
            starts_at=start,
            ends_at=start + duration,  # type: ignore[operator]
            staff_ids=tuple(sorted(found[start], key=lambda i: (names[i], i))),
        )
        for start in sorted(found)
    ]


def grid(world: World, *, service_id: uuid.UUID, staff_id: uuid.UUID, day: date) -> list[datetime]:
    """The start candidates of one staff member on one local date, before any check."""
    rules = _Rules(world, service_id, datetime.now(UTC), None)
    staff = next(s for s in world.staff if s.id == staff_id)
    return list(rules.grid(staff, day)) if rules.service is not None else []


def free_staff_at(
    world: World,
    *,
    service_id: uuid.UUID,
    starts_at: datetime,
    now: datetime,
    staff_ids: Iterable[uuid.UUID] | None = None,
    exclude_booking_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Who could be booked at exactly `starts_at`, least busy that local day first."""
    rules = _Rules(world, service_id, now, exclude_booking_id)
    local_day = starts_at.astimezone(rules.zone).date()
    free = []
    for staff in rules.qualified(staff_ids):
        busy = rules.busy(staff)
        # A date's starts fall on that date or, past a gap, a little after it: look around.
        for day in _dates(local_day - timedelta(days=2), local_day + timedelta(days=1)):
            if starts_at in set(rules.grid(staff, day)) and rules.bookable(
                staff, day, starts_at, busy
            ):
                free.append(staff)
                break
    free.sort(key=lambda s: (rules.day_load(s, local_day), s.display_name, s.id))
    return [s.id for s in free]
