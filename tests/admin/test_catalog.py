"""The catalog in the admin: categories, services, staff, the weekly-hours editor with split
shifts, date overrides, time off and closures; the API's rules, field by field."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from bookme.core.db import session
from bookme.services.models import Service, ServiceCategory
from bookme.staff.models import Closure, DateOverride, Staff, TimeOff, WorkingHours
from tests.admin.conftest import book
from tests.admin.html import Page
from tests.factories import use_tenant


def _all(salon, model, *criteria):
    use_tenant(salon.tenant)
    return session().scalars(sa.select(model).where(*criteria)).all()


def test_a_category_is_created_edited_and_deleted(signed_in, salon):
    browser = signed_in("manager")
    response = browser.submit(
        "/admin/categories/new", "category-form", name="Coiffure", position="2"
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/categories"
    (category,) = _all(salon, ServiceCategory)
    response = browser.submit(
        f"/admin/categories/{category.id}/edit", "category-form", name="Cheveux"
    )
    assert response.status_code == 303
    page = browser.page("/admin/categories")
    assert "Cheveux" in page.html
    response = browser.send(page, f"delete-category-{category.id}")
    assert response.status_code == 303
    assert _all(salon, ServiceCategory) == []


def test_a_duplicate_category_is_refused_above_the_form(signed_in, salon):
    browser = signed_in("manager")
    browser.submit("/admin/categories/new", "category-form", name="Coiffure")
    response = browser.submit("/admin/categories/new", "category-form", name="coiffure")
    assert response.status_code == 422
    assert "already exists" in Page(response.text).text("error-summary")


def test_a_service_is_created_with_the_apis_rules_field_by_field(signed_in, salon):
    browser = signed_in("owner")
    response = browser.submit(
        "/admin/services/new", "service-form", name="Hammam", duration_minutes="3", price="1.234"
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert page.text("duration_minutes-error")
    assert page.text("price-error")
    response = browser.send(
        page, "service-form", name="Hammam", duration_minutes="45", price="150.00",
        buffer_after_minutes="15",
    )  # fmt: skip
    assert response.status_code == 303
    (hammam,) = _all(salon, Service, Service.name == "Hammam")
    assert hammam.duration_minutes == 45 and str(hammam.price) == "150.00"
    assert hammam.currency == "MAD" and hammam.buffer_after_minutes == 15
    response = browser.submit(f"/admin/services/{hammam.id}/edit", "service-form", is_active=None)
    assert response.status_code == 303
    assert _all(salon, Service, Service.id == hammam.id)[0].is_active is False


def test_a_service_with_upcoming_bookings_is_not_deleted_and_the_list_says_why(
    signed_in, client, salon
):
    book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page("/admin/services")
    response = browser.send(page, f"delete-service-{salon.service.id}")
    assert response.status_code == 303
    page = browser.page("/admin/services")
    assert "deactivate" in page.text("flash")
    assert _all(salon, Service, Service.id == salon.service.id)


def test_a_staff_member_is_created_with_services_and_a_linked_account(signed_in, salon):
    browser = signed_in("manager")
    page = browser.page("/admin/staff/new")
    form = page.form("staff-form")
    assert str(salon.member("manager").user_id) in form.options["user_id"]
    response = browser.send(
        page, "staff-form", display_name="Samira", service_ids=[str(salon.service.id)],
        user_id=str(salon.member("manager").user_id), phone="+212677777777",
    )  # fmt: skip
    assert response.status_code == 303
    (samira,) = _all(salon, Staff, Staff.display_name == "Samira")
    assert samira.user_id == salon.member("manager").user_id
    assert response.headers["Location"] == f"/admin/staff/{samira.id}/hours"
    # A second staff row for the same account is refused (the API's 409), above the form.
    response = browser.submit(
        "/admin/staff/new", "staff-form", display_name="Samira 2",
        user_id=str(salon.member("manager").user_id),
    )  # fmt: skip
    assert response.status_code == 422
    assert "already linked" in Page(response.text).text("error-summary")


def test_a_bad_staff_phone_is_422_on_the_phone(signed_in, salon):
    response = signed_in("owner").submit(
        "/admin/staff/new", "staff-form", display_name="X", phone="0612"
    )
    assert response.status_code == 422
    assert Page(response.text).text("phone-error")


def test_the_weekly_hours_editor_saves_split_shifts(signed_in, salon):
    browser = signed_in("owner")
    url = f"/admin/staff/{salon.karim.id}/hours"
    page = browser.page(url)
    data = page.form("hours-form").data()
    assert data["day1-0-start"] == "09:00" and data["day1-1-end"] == "18:00"
    changes = {
        f"day{d}-{r}-{p}": "" for d in range(1, 8) for r in range(3) for p in ("start", "end")
    }
    changes.update({
        "day2-0-start": "09:00", "day2-0-end": "12:00",
        "day2-1-start": "14:00", "day2-1-end": "17:00",
        "day2-2-start": "19:00", "day2-2-end": "00:00",
    })  # fmt: skip
    response = browser.send(page, "hours-form", **changes)
    assert response.status_code == 303
    rows = _all(salon, WorkingHours, WorkingHours.staff_id == salon.karim.id)
    assert sorted((r.weekday, r.start_minute, r.end_minute) for r in rows) == [
        (2, 540, 720), (2, 840, 1020), (2, 1140, 1440),
    ]  # fmt: skip


def test_overlapping_intervals_are_422_on_the_row_that_overlaps(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page(f"/admin/staff/{salon.karim.id}/hours")
    response = browser.send(
        page, "hours-form", **{"day1-0-start": "09:00", "day1-0-end": "13:00",
                               "day1-1-start": "12:00", "day1-1-end": "18:00"},
    )  # fmt: skip
    assert response.status_code == 422
    errored = Page(response.text)
    assert "Overlaps interval" in errored.text("day1-1-end-error")
    assert errored.ids["day1-1-end"].get("aria-invalid") == "true"
    response = browser.send(page, "hours-form", **{"day3-0-start": "15:00", "day3-0-end": "10:00"})
    assert response.status_code == 422
    assert "after start" in Page(response.text).text("day3-0-end-error")


def test_a_date_override_and_a_day_off(signed_in, salon):
    browser = signed_in("owner")
    url = f"/admin/staff/{salon.karim.id}/hours"
    response = browser.submit(url, "override-form", day="2027-05-10", **{
        "intervals-0-start": "10:00", "intervals-0-end": "12:00"})  # fmt: skip
    assert response.status_code == 303
    response = browser.submit(url, "override-form", day="2027-05-11")
    assert response.status_code == 303
    overrides = _all(salon, DateOverride, DateOverride.staff_id == salon.karim.id)
    assert {o.day.isoformat(): [(i.start, i.end) for i in o.intervals] for o in overrides} == {
        "2027-05-10": [("10:00", "12:00")], "2027-05-11": [],
    }  # fmt: skip
    page = browser.page(url)
    response = browser.send(page, "delete-override-2027-05-11")
    assert response.status_code == 303
    assert len(_all(salon, DateOverride, DateOverride.staff_id == salon.karim.id)) == 1


def test_time_off_in_local_time_and_a_bad_period_on_its_field(signed_in, salon):
    browser = signed_in("owner")
    url = f"/admin/staff/{salon.karim.id}/hours"
    response = browser.submit(
        url, "time-off-form", starts_at="2027-05-12T09:00", ends_at="2027-05-12T12:00",
        reason="Rendez-vous",
    )  # fmt: skip
    assert response.status_code == 303
    (row,) = _all(salon, TimeOff, TimeOff.staff_id == salon.karim.id)
    assert row.starts_at.isoformat() == "2027-05-12T08:00:00+00:00"  # 09:00 in Casablanca
    response = browser.submit(
        url, "time-off-form", starts_at="2027-05-12T12:00", ends_at="2027-05-12T09:00"
    )
    assert response.status_code == 422
    assert Page(response.text).text("ends_at-error")
    page = browser.page(url)
    assert "Rendez-vous" in page.html
    browser.send(page, f"delete-time-off-{row.id}")
    assert _all(salon, TimeOff, TimeOff.staff_id == salon.karim.id) == []


def test_closures_are_added_and_removed(signed_in, salon):
    browser = signed_in("manager")
    response = browser.submit(
        "/admin/closures", "closure-form", starts_at="2027-06-16T00:00", ends_at="2027-06-18T00:00",
        reason="Aïd",
    )  # fmt: skip
    assert response.status_code == 303
    (closure,) = _all(salon, Closure)
    page = browser.page("/admin/closures")
    assert "Aïd" in page.html
    browser.send(page, f"delete-closure-{closure.id}")
    assert _all(salon, Closure) == []


def test_staff_manage_their_own_schedule_only(signed_in, salon):
    browser = signed_in("staff")
    own = f"/admin/staff/{salon.nadia.id}/hours"
    response = browser.submit(
        own, "time-off-form", starts_at="2027-05-12T09:00", ends_at="2027-05-12T10:00"
    )
    assert response.status_code == 303
    page = browser.page("/admin/staff")
    assert own in page.links()
    assert f"/admin/staff/{salon.karim.id}/hours" not in page.links()
    browser.get(f"/admin/staff/{salon.karim.id}/hours", status=403)
    token = page.form("sign-out").data()["csrf_token"]
    response = browser.client.post(
        f"/admin/staff/{salon.karim.id}/time-off",
        data={"csrf_token": token, "starts_at": "2027-05-12T09:00", "ends_at": "2027-05-12T10:00"},
    )
    assert response.status_code == 403


def test_staff_see_the_catalog_without_its_controls_and_are_refused_changes(signed_in, salon):
    browser = signed_in("staff")
    checks = {
        "/admin/services": ["/admin/services/new", f"/admin/services/{salon.service.id}/edit"],
        "/admin/categories": ["/admin/categories/new"],
        "/admin/staff": ["/admin/staff/new", f"/admin/staff/{salon.karim.id}/edit"],
    }
    for page_url, hidden in checks.items():
        page = browser.page(page_url)
        for url in hidden:
            assert url not in page.links(), url
            browser.get(url, status=403)
    page = browser.page("/admin/closures")
    assert not page.has_form("closure-form")
    assert not any((f.id or "").startswith("delete-") for f in page.forms)
    token = page.form("sign-out").data()["csrf_token"]
    response = browser.client.post(
        "/admin/closures",
        data={"csrf_token": token, "starts_at": "2027-06-16T00:00", "ends_at": "2027-06-17T00:00"},
    )
    assert response.status_code == 403
    response = browser.client.post(
        f"/admin/services/{salon.service.id}/delete", data={"csrf_token": token}
    )
    assert response.status_code == 403
    assert _all(salon, Service, Service.id == salon.service.id)


def test_unknown_catalog_rows_are_404(signed_in, salon):
    browser = signed_in("owner")
    for url in (f"/admin/services/{uuid.uuid4()}/edit", f"/admin/staff/{uuid.uuid4()}/hours",
                f"/admin/categories/{uuid.uuid4()}/edit"):  # fmt: skip
        browser.get(url, status=404)


def test_a_service_asks_a_deposit_through_the_apis_payment_rules(signed_in, salon):
    browser = signed_in("owner")
    url = f"/admin/services/{salon.service.id}/edit"
    response = browser.submit(url, "service-form", payment_mode="deposit")
    assert response.status_code == 422
    assert "exactly one" in Page(response.text).text("deposit_amount-error")
    response = browser.submit(url, "service-form", payment_mode="deposit", deposit_percent="30")
    assert response.status_code == 303
    (service,) = _all(salon, Service, Service.id == salon.service.id)
    session().refresh(service)
    assert service.payment == {"mode": "deposit", "deposit_amount": None, "deposit_percent": 30}
    assert browser.page(url).form("service-form").data()["payment_mode"] == "deposit"
