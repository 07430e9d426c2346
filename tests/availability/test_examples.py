"""Availability by example: the rules on hand-picked schedules, offset changes included."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from bookme.bookings import availability
from bookme.core import errors
from bookme.core.db import session
from tests.availability.helpers import customer_id, insert_booking, set_timezone
from tests.factories import (
    make_closure,
    make_override,
    make_service,
    make_staff,
    make_time_off,
)

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def service(**kw):
    kw.setdefault("duration_minutes", 60)
    kw.setdefault("slot_interval_minutes", 60)
    kw.setdefault("min_notice_minutes", 0)
    kw.setdefault("max_advance_days", 365)
    return make_service(**kw)


def starts(ref, svc, first, last=None, now=NOW, staff_id=None):
    body = availability.list_slots(
        tenant=ref, service_id=svc.id, date_from=date.fromisoformat(first),
        date_to=date.fromisoformat(last or first), now=now, staff_id=staff_id,
    )  # fmt: skip
    return [slot["starts_at"] for slot in body["slots"]]


def at(text):
    return datetime.fromisoformat(text)


# --- offset changes -------------------------------------------------------------------------


def test_a_morning_shift_on_casablanca_offset_change_days_starts_at_local_nine(tenant):
    ref = set_timezone(tenant, "Africa/Casablanca")
    cut = service()
    # Sundays: 2027-02-07 (UTC+1 -> UTC+0 at 03:00) and 2027-03-14 (UTC+0 -> UTC+1 at 02:00).
    make_staff(services=[cut], hours={7: [("09:00", "13:00")]})
    assert starts(ref, cut, "2027-01-31", "2027-03-14") == [
        f"{day}T{hour}:00:00{offset}"
        for day, offset in [
            ("2027-01-31", "+01:00"), ("2027-02-07", "+00:00"), ("2027-02-14", "+00:00"),
            ("2027-02-21", "+00:00"), ("2027-02-28", "+00:00"), ("2027-03-07", "+00:00"),
            ("2027-03-14", "+01:00"),
        ]
        for hour in ("09", "10", "11", "12")
    ]  # fmt: skip


def test_a_shift_across_the_spring_forward_gap_lasts_its_real_length(tenant):
    ref = set_timezone(tenant, "Europe/Paris")
    cut = service(slot_interval_minutes=30)
    # 2027-03-28 (a Sunday): 02:00 jumps to 03:00. 01:00-04:00 is two real hours.
    make_staff(services=[cut], hours={7: [("01:00", "04:00")]})
    assert starts(ref, cut, "2027-03-28") == [
        "2027-03-28T01:00:00+01:00",
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
    ]


def test_a_shift_starting_in_the_gap_starts_as_late_as_the_clock_jumped(tenant):
    ref = set_timezone(tenant, "Europe/Paris")
    cut = service(slot_interval_minutes=30)
    make_staff(services=[cut], hours={7: [("02:30", "05:00")]})
    # 02:30 does not exist: read with the winter offset it is 03:30 summer time.
    assert starts(ref, cut, "2027-03-28") == [
        "2027-03-28T03:30:00+02:00",
        "2027-03-28T04:00:00+02:00",
    ]


def test_a_repeated_local_time_means_its_second_occurrence(tenant):
    ref = set_timezone(tenant, "Europe/Paris")
    cut = service(slot_interval_minutes=30)
    # 2027-10-31: 03:00 summer time falls back to 02:00 winter time; 02:30 happens twice.
    make_staff(services=[cut], hours={7: [("02:30", "04:00")]})
    assert starts(ref, cut, "2027-10-31") == [
        "2027-10-31T02:30:00+01:00",
        "2027-10-31T03:00:00+01:00",
    ]


def test_the_repeated_hour_gets_slots_of_its_own(tenant):
    ref = set_timezone(tenant, "America/New_York")
    cut = service()
    # 2027-11-07: 02:00 EDT falls back to 01:00 EST; midnight to 03:00 is four real hours.
    make_staff(services=[cut], hours={7: [("00:00", "03:00")]})
    assert starts(ref, cut, "2027-11-07") == [
        "2027-11-07T00:00:00-04:00",
        "2027-11-07T01:00:00-04:00",
        "2027-11-07T01:00:00-05:00",
        "2027-11-07T02:00:00-05:00",
    ]


def test_a_shift_lying_wholly_in_the_gap_with_its_end_read_earlier_is_empty(tenant):
    ref = set_timezone(tenant, "America/New_York")
    cut = service(duration_minutes=15, slot_interval_minutes=15)
    # 2027-03-14: 02:00 jumps to 03:00. 02:30 reads as 03:30 EDT, 03:00 stays 03:00 EDT.
    make_staff(services=[cut], hours={7: [("02:30", "03:00"), ("03:00", "03:30")]})
    assert starts(ref, cut, "2027-03-14") == [
        "2027-03-14T03:00:00-04:00",
        "2027-03-14T03:15:00-04:00",
    ]


def test_the_grid_counts_in_local_time_across_a_spring_forward(tenant):
    ref = set_timezone(tenant, "America/New_York")
    cut = service(duration_minutes=30, slot_interval_minutes=45)
    # 2027-03-14: 02:00 jumps to 03:00. From 00:00 the grid's wall times are 00:00, 00:45,
    # 01:30, (02:15 does not exist), 03:00, 03:45: not 03:15 and 04:00, which elapsed
    # minutes from midnight would give.
    nadia = make_staff(services=[cut], hours={7: [("00:00", "04:30")]})
    listed = [
        "2027-03-14T00:00:00-05:00", "2027-03-14T00:45:00-05:00", "2027-03-14T01:30:00-05:00",
        "2027-03-14T03:00:00-04:00", "2027-03-14T03:45:00-04:00",
    ]  # fmt: skip
    assert starts(ref, cut, "2027-03-14") == listed

    def check(text):
        return availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at(text), now=NOW
        )

    for text in listed:
        assert check(text) == [nadia.id], text
    assert check("2027-03-14T03:15:00-04:00") == []
    assert check("2027-03-14T04:00:00-04:00") == []


def test_the_grid_counts_in_local_time_across_a_fall_back_and_repeats_with_the_hour(tenant):
    ref = set_timezone(tenant, "America/New_York")
    cut = service(duration_minutes=30, slot_interval_minutes=45)
    # 2027-11-07: 02:00 EDT falls back to 01:00 EST. 01:30 happens twice, on the grid both
    # times; after the change the grid goes on at 02:15, 03:00, 03:45 (wall times).
    nadia = make_staff(services=[cut], hours={7: [("00:00", "04:30")]})
    listed = [
        "2027-11-07T00:00:00-04:00", "2027-11-07T00:45:00-04:00", "2027-11-07T01:30:00-04:00",
        "2027-11-07T01:30:00-05:00", "2027-11-07T02:15:00-05:00", "2027-11-07T03:00:00-05:00",
        "2027-11-07T03:45:00-05:00",
    ]  # fmt: skip
    assert starts(ref, cut, "2027-11-07") == listed
    for text in listed:
        found = availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at(text), now=NOW
        )
        assert found == [nadia.id], text
    assert starts(ref, cut, "2027-11-14") == [
        "2027-11-14T00:00:00-05:00", "2027-11-14T00:45:00-05:00", "2027-11-14T01:30:00-05:00",
        "2027-11-14T02:15:00-05:00", "2027-11-14T03:00:00-05:00", "2027-11-14T03:45:00-05:00",
    ]  # fmt: skip


def test_the_grid_counts_in_local_time_across_casablancas_ramadan_change(tenant):
    ref = set_timezone(tenant, "Africa/Casablanca")
    cut = service(duration_minutes=30, slot_interval_minutes=45)
    # 2027-02-07: 03:00 (UTC+1) falls back to 02:00 (UTC+0). From 01:00 the wall times
    # 01:00, 01:45, 02:30 (twice), 03:15; elapsed minutes would give 02:15 and 03:00 after it.
    make_staff(services=[cut], hours={7: [("01:00", "04:00")]})
    assert starts(ref, cut, "2027-02-07") == [
        "2027-02-07T01:00:00+01:00", "2027-02-07T01:45:00+01:00", "2027-02-07T02:30:00+01:00",
        "2027-02-07T02:30:00+00:00", "2027-02-07T03:15:00+00:00",
    ]  # fmt: skip


# --- hours, overrides, grid -------------------------------------------------------------------


def test_an_override_replaces_the_weekly_hours_and_an_empty_one_is_a_day_off(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service()
    nadia = make_staff(services=[cut], hours={1: [("09:00", "11:00")], 2: [("09:00", "11:00")]})
    make_override(nadia, "2027-03-01", [("14:00", "16:00")])
    make_override(nadia, "2027-03-02", [])
    assert starts(ref, cut, "2027-03-01", "2027-03-08") == [
        "2027-03-01T14:00:00+00:00", "2027-03-01T15:00:00+00:00",
        "2027-03-08T09:00:00+00:00", "2027-03-08T10:00:00+00:00",
    ]  # fmt: skip


def test_the_grid_restarts_at_each_shift_and_back_to_back_shifts_join_up(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service(duration_minutes=60, slot_interval_minutes=45)
    make_staff(
        services=[cut], hours={1: [("09:00", "10:30"), ("10:30", "12:00"), ("14:10", "15:30")]}
    )
    assert starts(ref, cut, "2027-03-01") == [
        "2027-03-01T09:00:00+00:00", "2027-03-01T09:45:00+00:00",  # 09:45-10:45 spans both
        "2027-03-01T10:30:00+00:00",  # the second shift's own grid
        "2027-03-01T14:10:00+00:00",
    ]  # fmt: skip


# --- what blocks time -------------------------------------------------------------------------


def test_buffers_may_leave_working_hours_but_not_touch_other_busy_time(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service(
        duration_minutes=30, slot_interval_minutes=30,
        buffer_before_minutes=15, buffer_after_minutes=15,
    )  # fmt: skip
    nadia = make_staff(services=[cut], hours={1: [("09:00", "11:00")]})
    assert starts(ref, cut, "2027-03-01") == [
        "2027-03-01T09:00:00+00:00", "2027-03-01T09:30:00+00:00",
        "2027-03-01T10:00:00+00:00", "2027-03-01T10:30:00+00:00",
    ]  # fmt: skip
    # Time off ending at 09:00 touches 09:00's buffer; a booking blocked from 11:00 touches
    # 10:30's; closures count the same way.
    make_time_off(nadia, "2027-03-01T08:00:00+00:00", "2027-03-01T09:00:00+00:00")
    insert_booking(
        service_id=cut.id, staff_id=nadia.id, customer=customer_id(),
        starts_at=at("2027-03-01T11:10:00+00:00"), ends_at=at("2027-03-01T11:40:00+00:00"),
        blocked=(at("2027-03-01T11:00:00+00:00"), at("2027-03-01T11:50:00+00:00")),
    )  # fmt: skip
    make_closure("2027-03-01T09:20:00+00:00", "2027-03-01T09:25:00+00:00")
    assert starts(ref, cut, "2027-03-01") == ["2027-03-01T10:00:00+00:00"]


def test_only_pending_and_confirmed_bookings_block_and_an_expired_hold_does_not(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service(duration_minutes=60, slot_interval_minutes=60)
    nadia = make_staff(services=[cut], hours={1: [("09:00", "15:00")]})
    customer = customer_id()
    now = at("2027-03-01T06:00:00+00:00")
    for hour, status, due in [
        (9, "confirmed", None),
        (10, "pending", None),
        (11, "pending", now + timedelta(minutes=1)),  # hold still running
        (12, "pending", now),  # hold expired at now
        (13, "cancelled", None),
        (14, "completed", None),
    ]:
        begin = datetime(2027, 3, 1, hour, tzinfo=UTC)
        insert_booking(
            service_id=cut.id, staff_id=nadia.id, customer=customer, starts_at=begin,
            ends_at=begin + timedelta(hours=1), status=status, payment_due_at=due,
        )  # fmt: skip
    assert starts(ref, cut, "2027-03-01", now=now) == [
        "2027-03-01T12:00:00+00:00",
        "2027-03-01T13:00:00+00:00",
        "2027-03-01T14:00:00+00:00",
    ]


# --- notice and horizon -----------------------------------------------------------------------


def test_minimum_notice_counts_from_now_and_the_horizon_ends_with_a_whole_local_day(tenant):
    ref = set_timezone(tenant, "Africa/Casablanca")
    cut = service(min_notice_minutes=90, max_advance_days=2)
    make_staff(services=[cut], hours={d: [("09:00", "12:00")] for d in range(1, 8)})
    now = at("2027-03-15T08:30:00+01:00")  # a Monday
    assert starts(ref, cut, "2027-03-14", "2027-03-20", now=now) == [
        "2027-03-15T10:00:00+01:00", "2027-03-15T11:00:00+01:00",
        "2027-03-16T09:00:00+01:00", "2027-03-16T10:00:00+01:00", "2027-03-16T11:00:00+01:00",
        "2027-03-17T09:00:00+01:00", "2027-03-17T10:00:00+01:00", "2027-03-17T11:00:00+01:00",
    ]  # fmt: skip


# --- who -------------------------------------------------------------------------------------


def test_slots_list_every_free_qualified_active_staff_member_by_name(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service()
    other = service()
    zoe = make_staff(services=[cut], hours={1: [("09:00", "11:00")]}, display_name="Zoé")
    adam = make_staff(services=[cut], hours={1: [("10:00", "12:00")]}, display_name="Adam")
    make_staff(services=[cut], hours={1: [("09:00", "12:00")]}, is_active=False)
    make_staff(services=[other], hours={1: [("09:00", "12:00")]})
    body = availability.list_slots(
        tenant=ref, service_id=cut.id, date_from=date(2027, 3, 1), date_to=date(2027, 3, 1),
        now=NOW,
    )  # fmt: skip
    assert [(s["starts_at"][11:13], s["staff_ids"]) for s in body["slots"]] == [
        ("09", [str(zoe.id)]),
        ("10", [str(adam.id), str(zoe.id)]),
        ("11", [str(adam.id)]),
    ]
    assert starts(ref, cut, "2027-03-01", staff_id=zoe.id) == [
        "2027-03-01T09:00:00+00:00",
        "2027-03-01T10:00:00+00:00",
    ]


def test_an_inactive_service_or_a_staff_member_who_cannot_do_it_is_not_found(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service()
    retired = service(is_active=False)
    other = service()
    make_staff(services=[cut, retired], hours={1: [("09:00", "11:00")]})
    stranger = make_staff(services=[other], hours={1: [("09:00", "11:00")]})
    away = make_staff(services=[cut], hours={1: [("09:00", "11:00")]}, is_active=False)
    for service_id, staff_id in [
        (retired.id, None), (uuid.uuid4(), None), (cut.id, stranger.id), (cut.id, away.id),
        (cut.id, uuid.uuid4()),
    ]:  # fmt: skip
        with pytest.raises(errors.NotFound):
            availability.list_slots(
                tenant=ref, service_id=service_id, date_from=date(2027, 3, 1),
                date_to=date(2027, 3, 1), staff_id=staff_id, now=NOW,
            )  # fmt: skip


def test_a_range_longer_than_62_days_or_backwards_is_refused(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service()
    for first, last in [(date(2027, 3, 2), date(2027, 3, 1)), (date(2027, 3, 1), date(2027, 5, 2))]:
        with pytest.raises(errors.ValidationFailed) as raised:
            availability.list_slots(
                tenant=ref, service_id=cut.id, date_from=first, date_to=last, now=NOW
            )
        assert "to" in raised.value.errors
    body = availability.list_slots(
        tenant=ref, service_id=cut.id, date_from=date(2027, 3, 1), date_to=date(2027, 5, 1),
        now=NOW,
    )  # fmt: skip
    assert body["slots"] == []


# --- the booking check ------------------------------------------------------------------------


def test_the_booking_check_puts_the_least_busy_staff_member_first(tenant):
    ref = set_timezone(tenant, "Africa/Casablanca")
    cut = service()
    hours = {1: [("09:00", "18:00")]}
    busy = make_staff(services=[cut], hours=hours, display_name="Amina")
    idle = make_staff(services=[cut], hours=hours, display_name="Yasmine")
    also_idle = make_staff(services=[cut], hours=hours, display_name="Karim")
    customer = customer_id()
    insert_booking(
        service_id=cut.id, staff_id=busy.id, customer=customer,
        starts_at=at("2027-03-15T16:00:00+01:00"), ends_at=at("2027-03-15T17:00:00+01:00"),
    )  # fmt: skip
    # Bookings on other local days, cancelled ones and expired holds do not count.
    insert_booking(
        service_id=cut.id, staff_id=idle.id, customer=customer,
        starts_at=at("2027-03-16T00:30:00+01:00"), ends_at=at("2027-03-16T01:00:00+01:00"),
    )  # fmt: skip
    insert_booking(
        service_id=cut.id, staff_id=idle.id, customer=customer, status="cancelled",
        starts_at=at("2027-03-15T16:00:00+01:00"), ends_at=at("2027-03-15T17:00:00+01:00"),
    )  # fmt: skip
    insert_booking(
        service_id=cut.id, staff_id=also_idle.id, customer=customer, status="pending",
        payment_due_at=NOW,
        starts_at=at("2027-03-15T16:00:00+01:00"), ends_at=at("2027-03-15T17:00:00+01:00"),
    )  # fmt: skip
    free = availability.free_staff_at(
        tenant=ref, service_id=cut.id, starts_at=at("2027-03-15T10:00:00+01:00"), now=NOW
    )
    assert free == [also_idle.id, idle.id, busy.id]
    assert availability.free_staff_at(
        tenant=ref, service_id=cut.id, starts_at=at("2027-03-15T10:00:00+01:00"), now=NOW,
        staff_ids=[busy.id, idle.id],
    ) == [idle.id, busy.id]  # fmt: skip


def test_the_booking_check_refuses_what_the_list_leaves_out(tenant):
    ref = set_timezone(tenant, "Africa/Casablanca")
    cut = service(slot_interval_minutes=30)
    nadia = make_staff(services=[cut], hours={1: [("09:00", "12:00")]})
    moving = insert_booking(
        service_id=cut.id, staff_id=nadia.id, customer=customer_id(),
        starts_at=at("2027-03-15T10:00:00+01:00"), ends_at=at("2027-03-15T11:00:00+01:00"),
    )  # fmt: skip

    def check(text, **kw):
        return availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at(text), now=NOW, **kw
        )

    assert check("2027-03-15T09:00:00+01:00") == [nadia.id]
    assert check("2027-03-15T09:00:00+00:00") == []  # 10:00 local: taken
    assert check("2027-03-15T09:15:00+01:00") == []  # off the grid
    assert check("2027-03-15T09:00:00.000001+01:00") == []  # off the grid, barely
    assert check("2027-03-15T11:30:00+01:00") == []  # would end after 12:00
    assert check("2027-03-15T09:30:00+01:00") == []  # would run into the booking
    # Rescheduling the 10:00 booking may reuse its own time.
    assert check("2027-03-15T09:30:00+01:00", exclude_booking_id=moving) == [nadia.id]
    assert check("2027-03-15T09:00:00+01:00", staff_ids=[]) == []


def test_the_booking_check_sees_bookings_reaching_as_far_as_services_allow(tenant):
    """A booking blocks up to 4 hours before its start and 16 after (the longest buffers and
    duration); the check finds such bookings however far from the instant they start."""
    ref = set_timezone(tenant, "UTC")
    cut = service(duration_minutes=30, slot_interval_minutes=30)
    nadia = make_staff(services=[cut], hours={d: [("00:00", "24:00")] for d in range(1, 8)})
    who = customer_id()
    # Starts 16 hours before 16:00 and blocks until then: 720 minutes plus a 240-minute buffer.
    insert_booking(
        service_id=cut.id, staff_id=nadia.id, customer=who,
        starts_at=at("2027-03-15T00:00:00+00:00"), ends_at=at("2027-03-15T12:00:00+00:00"),
        blocked=(at("2027-03-15T00:00:00+00:00"), at("2027-03-15T16:00:00+00:00")),
    )  # fmt: skip
    # Starts 4 hours after 16:30 and blocks from then: a 240-minute buffer before it.
    insert_booking(
        service_id=cut.id, staff_id=nadia.id, customer=who,
        starts_at=at("2027-03-15T20:30:00+00:00"), ends_at=at("2027-03-15T21:00:00+00:00"),
        blocked=(at("2027-03-15T16:30:00+00:00"), at("2027-03-15T21:00:00+00:00")),
    )  # fmt: skip

    def check(text):
        return availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at(text), now=NOW
        )

    assert check("2027-03-15T15:30:00+00:00") == []
    assert check("2027-03-15T16:00:00+00:00") == [nadia.id]
    assert check("2027-03-15T16:30:00+00:00") == []
    assert starts(ref, cut, "2027-03-15") == [
        "2027-03-15T16:00:00+00:00", "2027-03-15T21:00:00+00:00", "2027-03-15T21:30:00+00:00",
        "2027-03-15T22:00:00+00:00", "2027-03-15T22:30:00+00:00", "2027-03-15T23:00:00+00:00",
        "2027-03-15T23:30:00+00:00",
    ]  # fmt: skip


def test_no_booking_may_reach_further_than_services_allow(tenant):
    set_timezone(tenant, "UTC")
    cut = service()
    nadia = make_staff(services=[cut], hours={1: [("09:00", "12:00")]})
    for blocked in [
        (at("2027-03-15T05:59:00+00:00"), at("2027-03-15T11:00:00+00:00")),  # 4 h 1 min before
        (at("2027-03-15T10:00:00+00:00"), at("2027-03-16T02:01:00+00:00")),  # 16 h 1 min after
    ]:
        with (
            pytest.raises(sa.exc.IntegrityError, match="ck_bookings_reach"),
            session().begin_nested(),
        ):
            insert_booking(
                service_id=cut.id, staff_id=nadia.id, customer=customer_id(),
                starts_at=at("2027-03-15T10:00:00+00:00"),
                ends_at=at("2027-03-15T11:00:00+00:00"), blocked=blocked,
            )  # fmt: skip


def test_the_booking_check_of_an_inactive_service_finds_nobody(tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service(is_active=False)
    make_staff(services=[cut], hours={1: [("09:00", "12:00")]})
    assert (
        availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at("2027-03-15T09:00:00+00:00"), now=NOW
        )
        == []
    )


def test_availability_refuses_naive_datetimes_and_another_tenant(tenant, other_tenant):
    ref = set_timezone(tenant, "UTC")
    cut = service()
    with pytest.raises(ValueError):
        availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=datetime(2027, 3, 15, 9), now=NOW
        )
    other = set_timezone(other_tenant, "UTC")
    with pytest.raises(RuntimeError):
        availability.free_staff_at(
            tenant=ref, service_id=cut.id, starts_at=at("2027-03-15T09:00:00+00:00"), now=NOW
        )
    assert other.id != ref.id
