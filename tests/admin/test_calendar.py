"""The day view (landing page) and the week view: columns, hours, shading, status in words,
navigation, who sees what, and a fixed number of queries whatever the bookings."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from bookme.extensions import db as fsa
from tests.admin.conftest import WEEK, book
from tests.admin.html import Page
from tests.factories import (
    make_closure,
    make_override,
    make_staff,
    make_time_off,
    set_hours,
    use_tenant,
)


@contextmanager
def counting_queries():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(fsa.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(fsa.engine, "before_cursor_execute", count)


def _blocks(page: Page) -> list[dict[str, str]]:
    return [a for a in page.find("a") if "cal-booking" in a.get("class", "")]


def test_the_landing_page_is_the_day_with_a_column_per_staff_member(signed_in, client, salon):
    book(client, salon, "2027-05-03 10:00")
    book(client, salon, "2027-05-03 11:00", staff=salon.karim,
         customer={"full_name": "Youssef A.", "phone": "+212611111111"})  # fmt: skip
    page = signed_in("owner").page("/admin/")
    assert "lundi 3 mai 2027" in page.text("main")
    heads = [page.text(f"col-{i}-name") for i in (1, 2)]
    assert heads == ["Karim", "Nadia"]  # by name
    blocks = _blocks(page)
    assert len(blocks) == 2
    times = page.html.split('class="cal-time"><bdi dir="ltr">')[1:]
    assert [t[: len("10:00–10:30")] for t in times] == ["11:00–11:30", "10:00–10:30"]  # noqa: RUF001
    text = page.text("main")
    assert "Salma Bennani" in text and "Youssef A." in text
    assert "10:00–10:30" in text and "Coupe" in text  # noqa: RUF001


def test_a_booking_block_says_its_status_in_words_and_opens_the_booking(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    page = signed_in("owner").page("/admin/?date=2027-05-04")
    (block,) = _blocks(page)
    assert block["href"] == f"/admin/bookings/{created['id']}"
    assert "status-confirmed" in block["class"]
    assert "Confirmed" in page.html or "Confirmée" in page.html


def test_cancelled_bookings_leave_the_calendar(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    client.post(f"/api/v1/bookings/{created['id']}/cancel", json={}, headers=salon.tenant.headers())
    assert _blocks(signed_in("owner").page("/admin/?date=2027-05-04")) == []


def test_working_hours_time_off_and_closures_are_shaded_and_said(signed_in, salon):
    use_tenant(salon.tenant)
    make_override(salon.karim, "2027-05-04", [("10:00", "12:00")])
    make_time_off(salon.nadia, "2027-05-04T15:00:00+01:00", "2027-05-04T16:00:00+01:00", "Dentist")
    make_closure("2027-05-04T17:00:00+01:00", "2027-05-04T18:00:00+01:00", "Inventaire")
    page = signed_in("owner").page("/admin/?date=2027-05-04")
    karim, nadia = page.text("col-1"), page.text("col-2")
    # The override replaces the week.
    assert "10:00–12:00" in karim and "09:00" not in karim  # noqa: RUF001
    assert "09:00–13:00" in nadia and "14:00–18:00" in nadia  # noqa: RUF001
    shading = [d.get("class") for d in page.find("div") if d.get("class", "").startswith("cal-")]
    assert shading.count("cal-working") == 3
    assert shading.count("cal-timeoff") == 1
    assert shading.count("cal-closed") == 2  # the closure shades every column
    assert "Dentist" in page.html and "Inventaire" in page.html


def test_previous_next_today_and_the_date_picker(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page("/admin/?date=2027-05-10")
    links = page.links()
    assert "/admin/?date=2027-05-09" in links
    assert "/admin/?date=2027-05-11" in links
    assert "/admin/" in links
    picker = page.form("day-picker")
    assert picker.method == "get" and picker.data()["date"] == "2027-05-10"
    assert (
        "lundi 10 mai 2027" in Page(browser.send(page, "day-picker", date="2027-05-10").text).html
    )
    # A date that is not one falls back to today rather than failing.
    assert "lundi 3 mai 2027" in browser.page("/admin/?date=2027-99-99").html
    # So does one at the calendar's ends (the page links the day before and after).
    for far in ("0001-01-01", "9999-12-31", "2027-W18-1"):
        assert "lundi 3 mai 2027" in browser.page(f"/admin/?date={far}").html, far


def test_staff_see_their_own_column_only(signed_in, client, salon):
    book(client, salon, "2027-05-04 10:00")  # Nadia's, who is the staff member
    book(client, salon, "2027-05-04 11:00", staff=salon.karim)
    page = signed_in("staff").page("/admin/?date=2027-05-04")
    assert page.text("col-1").startswith("Nadia")
    assert "col-2" not in page.ids
    assert len(_blocks(page)) == 1


def test_a_staff_member_without_a_linked_staff_row_is_told_so(signed_in, salon, db):
    from bookme.core.db import session

    salon.nadia.user_id = None
    session().commit()
    page = signed_in("staff").page("/admin/")
    assert _blocks(page) == []
    assert "not linked" in page.html or "lié" in page.html


def test_the_week_view_shows_one_staff_member_day_by_day(signed_in, client, salon):
    book(client, salon, "2027-05-05 10:00", staff=salon.karim)
    book(client, salon, "2027-05-07 16:00", staff=salon.karim)
    browser = signed_in("manager")
    page = browser.page(f"/admin/week?staff_id={salon.karim.id}&date=2027-05-06")
    assert [page.text(f"col-{i}-name").split(" ")[0] for i in range(1, 8)] == [
        "lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.",
    ]  # fmt: skip
    assert len(_blocks(page)) == 2
    assert f"/admin/week?staff_id={salon.karim.id}&date=2027-04-26" in page.links()
    assert page.form("week-picker").data()["staff_id"] == str(salon.karim.id)


def test_staff_see_their_own_week_and_are_refused_another(signed_in, salon):
    browser = signed_in("staff")
    page = browser.page("/admin/week")
    assert page.form("week-picker").options["staff_id"] == [str(salon.nadia.id)]
    browser.get(f"/admin/week?staff_id={salon.karim.id}", status=403)


def test_the_day_view_answers_in_a_fixed_number_of_queries(signed_in, client, salon):
    browser = signed_in("owner")
    browser.get("/admin/?date=2027-05-04")  # warm up (the first request loads caches)
    with counting_queries() as few:
        browser.get("/admin/?date=2027-05-04")
    use_tenant(salon.tenant)
    others = [
        make_staff(services=[salon.service], hours=WEEK, display_name=f"S{i}") for i in range(4)
    ]
    for hour in range(9, 13):
        for person in [salon.nadia, salon.karim, *others]:
            book(client, salon, f"2027-05-04 {hour:02d}:00", staff=person)
    browser.get("/admin/?date=2027-05-04")  # the same warm-up: the test's session is shared
    with counting_queries() as many:
        page = Page(browser.get("/admin/?date=2027-05-04").text)
    assert len(_blocks(page)) == 24
    assert len(many) == len(few), (len(few), len(many))
    assert len(few) <= 12, few


@pytest.mark.parametrize("role", ["owner", "manager", "staff"])
def test_every_role_reaches_the_calendar(signed_in, role):
    browser = signed_in(role)
    browser.get("/admin/")
    browser.get("/admin/week")


def test_an_instant_is_placed_in_the_business_time_zone(signed_in, client, salon):
    # 23:30 UTC on the 3rd is 00:30 on the 4th in Casablanca (UTC+1): it belongs to the 4th.
    use_tenant(salon.tenant)
    set_hours(salon.nadia, {2: [("00:00", "02:00")]})
    book(client, salon, "2027-05-04 00:30")
    assert len(_blocks(signed_in("owner").page("/admin/?date=2027-05-04"))) == 1
    assert len(_blocks(signed_in("owner").page("/admin/?date=2027-05-03"))) == 0
