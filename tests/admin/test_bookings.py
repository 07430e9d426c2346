"""Bookings in the admin: the filtered list, bulk actions, the CSV of exactly that list, the
detail page with its history and payments, new booking and reschedule with the slot picker."""

from __future__ import annotations

import csv
import io
import uuid

import sqlalchemy as sa

from bookme.bookings.models import Booking, BookingEvent
from bookme.core import clock
from bookme.core.db import session
from tests.admin.conftest import at, book
from tests.admin.html import Page
from tests.factories import use_tenant


def _rows(page: Page) -> list[str]:
    return [a["value"] for a in page.find("input", name="ids")]


def _status(salon, booking_id) -> str:
    use_tenant(salon.tenant)
    return session().scalar(sa.select(Booking.status).where(Booking.id == uuid.UUID(booking_id)))


SALMA = {"full_name": "Salma Bennani", "phone": "+212612345678"}
YOUSSEF = {"full_name": "Youssef Alaoui", "phone": "+212611111111"}
AMINA = {"full_name": "أمينة الفاسي", "phone": "+212622222222", "email": "amina@example.com"}


# --- the list -----------------------------------------------------------------------------------


def test_the_list_filters_by_date_staff_service_status_and_customer(signed_in, client, salon):
    a = book(client, salon, "2027-05-04 10:00", customer=SALMA)
    b = book(client, salon, "2027-05-05 10:00", staff=salon.karim, customer=YOUSSEF)
    c = book(client, salon, "2027-05-06 10:00", customer=AMINA)
    client.post(f"/api/v1/bookings/{c['id']}/cancel", json={}, headers=salon.tenant.headers())
    browser = signed_in("owner")
    assert set(_rows(browser.page("/admin/bookings"))) == {a["id"], b["id"], c["id"]}
    assert _rows(browser.page("/admin/bookings?from=2027-05-05&to=2027-05-05")) == [b["id"]]
    assert _rows(browser.page(f"/admin/bookings?staff_id={salon.karim.id}")) == [b["id"]]
    assert _rows(browser.page("/admin/bookings?status=cancelled")) == [c["id"]]
    assert set(_rows(browser.page("/admin/bookings?status=cancelled&status=confirmed"))) == {
        a["id"], b["id"], c["id"],
    }  # fmt: skip
    assert _rows(browser.page("/admin/bookings?q=youssef")) == [b["id"]]
    assert _rows(browser.page("/admin/bookings?q=0611111111")) == [b["id"]]
    assert _rows(browser.page("/admin/bookings?q=amina@")) == [c["id"]]
    page = browser.page(f"/admin/bookings?service_id={salon.service.id}&q=salma")
    assert _rows(page) == [a["id"]]
    # The filters are a GET form, showing what the URL says.
    form = page.form("booking-filters")
    assert form.method == "get"
    assert form.data()["q"] == "salma" and form.data()["service_id"] == str(salon.service.id)


def test_a_bad_filter_is_400_with_the_message_by_its_field(signed_in, salon):
    response = signed_in("owner").get("/admin/bookings?from=2027-13-45&staff_id=nope", status=400)
    page = Page(response.text)
    assert page.ids["from"].get("aria-invalid") == "true"
    assert page.text("from-error")
    assert page.text("staff_id-error")


def test_the_list_pages_keep_the_filters(signed_in, client, salon):
    for day in range(4, 31):
        book(client, salon, f"2027-05-{day:02d} 10:00")
    browser = signed_in("owner")
    page = browser.page("/admin/bookings?status=confirmed")
    assert len(_rows(page)) == 25
    assert "/admin/bookings?status=confirmed&page=2" in page.links()
    assert len(_rows(browser.page("/admin/bookings?status=confirmed&page=2"))) == 2


def test_htmx_gets_the_rows_partial_and_the_cache_knows_it(signed_in, client, salon):
    book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    partial = browser.get("/admin/bookings?q=salma", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "bulk-form" in partial.text
    assert "HX-Request" in partial.headers["Vary"]
    boosted = browser.get("/admin/bookings", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


# --- bulk actions -------------------------------------------------------------------------------


def test_bulk_cancel_asks_for_a_reason_then_reports_each_booking(signed_in, client, salon):
    a = book(client, salon, "2027-05-04 10:00")
    b = book(client, salon, "2027-05-04 11:00")
    c = book(client, salon, "2027-05-04 12:00")
    client.post(f"/api/v1/bookings/{c['id']}/cancel", json={}, headers=salon.tenant.headers())
    browser = signed_in("owner")
    page = browser.page("/admin/bookings?from=2027-05-04&to=2027-05-04")
    confirm = browser.send(page, "bulk-form", ids=[a["id"], b["id"], c["id"]], action="cancel")
    assert confirm.status_code == 200  # the confirmation page, nothing done yet
    assert _status(salon, a["id"]) == "confirmed"
    confirmation = Page(confirm.text)
    assert confirmation.form("bulk-cancel-form").data()["confirmed"] == "yes"
    done = browser.send(confirmation, "bulk-cancel-form", reason="Salon fermé")
    assert done.status_code == 303
    result = browser.page(done.headers["Location"])
    items = [li for li in result.find("li") if li.get("class") in ("done", "refused")]
    assert [li["class"] for li in items] == ["done", "done", "refused"]
    assert "/admin/bookings?from=2027-05-04&to=2027-05-04" in result.links()
    assert _status(salon, a["id"]) == _status(salon, b["id"]) == "cancelled"
    use_tenant(salon.tenant)
    reasons = (
        session()
        .scalars(sa.select(Booking.cancellation_reason).where(Booking.id == uuid.UUID(a["id"])))
        .all()
    )
    assert reasons == ["Salon fermé"]


def test_bulk_complete_and_no_show_report_what_the_lifecycle_refuses(signed_in, client, salon):
    a = book(client, salon, "2027-05-03 10:00")
    b = book(client, salon, "2027-05-03 11:00")
    c = book(client, salon, "2027-05-05 11:00")  # not started yet
    browser = signed_in("manager")
    with clock.frozen(clock.now().replace(hour=12)):
        page = browser.page("/admin/bookings")
        response = browser.send(page, "bulk-form", ids=[a["id"], c["id"]], action="complete")
        result = browser.page(response.headers["Location"])
        response = browser.send(page, "bulk-form", ids=[b["id"]], action="no_show")
    assert _status(salon, a["id"]) == "completed"
    assert _status(salon, b["id"]) == "no_show"
    assert _status(salon, c["id"]) == "confirmed"
    refused = [li for li in result.find("li") if li.get("class") == "refused"]
    assert len(refused) == 1
    assert "before it starts" in result.html


def test_bulk_with_nothing_selected_does_nothing_and_says_so(signed_in, client, salon):
    book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page("/admin/bookings?status=confirmed")
    response = browser.send(page, "bulk-form", ids=None, action="confirm")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/bookings?status=confirmed"
    assert "nothing was done" in browser.get("/admin/bookings").text or "rien" in browser.last.text


def test_staff_select_only_their_own_bookings_and_others_are_refused(signed_in, client, salon):
    own = book(client, salon, "2027-05-04 10:00")
    other = book(client, salon, "2027-05-04 10:00", staff=salon.karim)
    browser = signed_in("staff")
    page = browser.page("/admin/bookings")
    assert _rows(page) == [own["id"]]  # no checkbox on Karim's booking
    confirm = Page(
        browser.send(page, "bulk-form", ids=[own["id"], other["id"]], action="cancel").text
    )
    result = browser.page(browser.send(confirm, "bulk-cancel-form").headers["Location"])
    assert [li["class"] for li in result.find("li") if li.get("class") in ("done", "refused")] == [
        "done", "refused",
    ]  # fmt: skip
    assert _status(salon, other["id"]) == "confirmed"


def test_bulk_results_belong_to_whoever_acted(signed_in, client, salon):
    a = book(client, salon, "2027-05-04 10:00")
    owner = signed_in("owner")
    page = owner.page("/admin/bookings")
    location = owner.send(page, "bulk-form", ids=[a["id"]], action="confirm").headers["Location"]
    owner.get(location)
    signed_in("manager").get(location, status=404)


# --- CSV ----------------------------------------------------------------------------------------


def test_the_csv_is_exactly_the_filtered_list(signed_in, client, salon):
    book(client, salon, "2027-05-04 10:00", customer=SALMA)
    book(
        client,
        salon,
        "2027-05-04 11:00",
        customer={"full_name": "=HYPERLINK(1)", "phone": "+212633333333"},
    )
    book(client, salon, "2027-05-05 10:00", customer=AMINA)
    browser = signed_in("owner")
    page = browser.page("/admin/bookings?from=2027-05-04&to=2027-05-04")
    link = next(a["href"] for a in page.find("a") if a["href"].startswith("/admin/bookings.csv"))
    assert link == "/admin/bookings.csv?from=2027-05-04&to=2027-05-04"
    response = browser.get(link)
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert rows[1][0] == "2027-05-04" and rows[1][1] == "10:00"
    assert rows[1][6] == "Salma Bennani" and rows[1][7] == "'+212612345678"
    assert rows[2][6] == "'=HYPERLINK(1)"
    # Arabic names survive the round trip.
    everything = browser.get("/admin/bookings.csv").get_data().decode("utf-8-sig")
    assert "أمينة الفاسي" in everything


def test_a_csv_of_a_bad_filter_is_refused_not_broken(signed_in, salon):
    signed_in("owner").get("/admin/bookings.csv?to=nope", status=400)


# --- one booking --------------------------------------------------------------------------------


def test_the_detail_shows_the_audit_trail_and_allowed_actions(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00", notes="Allergique")
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/{created['id']}")
    assert "Allergique" in page.html
    assert "Salma Bennani" in page.text("main")
    assert page.has_form("booking-complete") and page.has_form("booking-no-show")
    assert not page.has_form("booking-confirm")  # already confirmed
    history = page.text("history-title")
    assert history
    assert salon.member("owner").email in page.html  # who created it
    assert f"/admin/bookings/{created['id']}/reschedule" in page.links()


def test_a_refused_action_rerenders_the_page_with_why(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/{created['id']}")
    response = browser.send(page, "booking-complete")
    assert response.status_code == 409
    assert "before it starts" in Page(response.text).text("error-summary")


def test_cancelling_one_booking_asks_first_and_works_without_javascript(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    response = browser.submit(
        f"/admin/bookings/{created['id']}/cancel", "cancel-form", reason="Client malade"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/bookings/{created['id']}"
    assert _status(salon, created["id"]) == "cancelled"
    page = browser.page(f"/admin/bookings/{created['id']}")
    assert "Client malade" in page.html
    # A second cancel is refused with the lifecycle's reason, on the same page.
    response = browser.submit(f"/admin/bookings/{created['id']}/cancel", "cancel-form")
    assert response.status_code == 409


def test_staff_cannot_change_another_staff_members_booking(signed_in, client, salon):
    other = book(client, salon, "2027-05-04 10:00", staff=salon.karim)
    browser = signed_in("staff")
    page = browser.page(f"/admin/bookings/{other['id']}")  # reading is allowed, as in the API
    assert not page.has_form("booking-complete")
    assert f"/admin/bookings/{other['id']}/cancel" not in page.links()
    browser.get(f"/admin/bookings/{other['id']}/cancel", status=403)
    browser.get(f"/admin/bookings/{other['id']}/reschedule", status=403)
    token = page.form("sign-out").data()["csrf_token"]
    response = browser.client.post(
        f"/admin/bookings/{other['id']}/complete", data={"csrf_token": token}
    )
    assert response.status_code == 403


def test_an_unknown_booking_is_404(signed_in, salon):
    signed_in("owner").get(f"/admin/bookings/{uuid.uuid4()}", status=404)


def test_notifications_show_for_managers_only(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    assert (
        "notifications-title" in signed_in("manager").page(f"/admin/bookings/{created['id']}").ids
    )
    assert (
        "notifications-title" not in signed_in("staff").page(f"/admin/bookings/{created['id']}").ids
    )


def test_cash_is_recorded_and_refunded_from_the_booking_page(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("manager")
    url = f"/admin/bookings/{created['id']}"
    response = browser.submit(url, "cash-payment", amount="50.00")
    assert response.status_code == 303
    page = browser.page(url)
    assert "50,00" in page.text("main")
    refund_form = next(f for f in page.forms if (f.id or "").startswith("refund-"))
    response = browser.send(page, refund_form.id, amount="20.00", reason="Geste")
    assert response.status_code == 303
    page = browser.page(url)
    assert "20,00" in page.text("main")
    # Staff see what is paid and due, but neither the payments list nor refunds.
    staff_page = signed_in("staff").page(url)
    assert not any((f.id or "").startswith("refund-") for f in staff_page.forms)


def test_a_cash_amount_over_what_is_due_is_refused_with_why(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    url = f"/admin/bookings/{created['id']}"
    browser.submit(url, "cash-payment", amount="500.00")
    page = browser.page(url)
    assert "flash-error" in page.html


# --- new booking and reschedule: the slot picker -------------------------------------------------


def test_a_booking_made_through_the_form_uses_the_slot_picker(signed_in, salon):
    browser = signed_in("manager")
    page = browser.page(
        f"/admin/bookings/new?service_id={salon.service.id}&staff_id={salon.nadia.id}"
        "&date=2027-05-04"
    )
    slots = page.form("booking-form").options["starts_at"]
    assert slots[0] == at("2027-05-04 09:00") and at("2027-05-04 13:00") not in slots
    response = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 09:30"),
        full_name="Karima Idrissi", phone="0698765432",
    )  # fmt: skip
    assert response.status_code == 303
    booking_id = response.headers["Location"].rsplit("/", 1)[1]
    use_tenant(salon.tenant)
    created = session().get(Booking, uuid.UUID(booking_id))
    assert created.source == "admin" and created.staff_id == salon.nadia.id
    event = (
        session()
        .scalars(sa.select(BookingEvent).where(BookingEvent.booking_id == created.id))
        .one()
    )
    assert event.actor["email"] == salon.member("manager").email
    # The taken time is no longer offered.
    page = browser.page(
        f"/admin/bookings/new?service_id={salon.service.id}&staff_id={salon.nadia.id}"
        "&date=2027-05-04"
    )
    assert at("2027-05-04 09:30") not in page.form("booking-form").options["starts_at"]


def test_anyone_available_lets_the_service_assign_a_staff_member(signed_in, client, salon):
    book(client, salon, "2027-05-04 10:00")  # Nadia is taken at 10:00, Karim is not
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/new?service_id={salon.service.id}&date=2027-05-04")
    assert page.form("booking-form").data()["staff_id"] == ""
    response = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 10:00"), full_name="Omar", phone="0600000001"
    )
    assert response.status_code == 303
    use_tenant(salon.tenant)
    created = session().get(Booking, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert created.staff_id == salon.karim.id


def test_an_existing_customer_is_found_and_booked(signed_in, client, salon):
    first = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page(
        f"/admin/bookings/new?service_id={salon.service.id}&date=2027-05-05&q=bennani"
    )
    form = page.form("booking-form")
    assert form.options["customer_id"] == [first["customer_id"]]
    response = browser.send(
        page, "booking-form", starts_at=form.options["starts_at"][0],
        customer_id=first["customer_id"],
    )  # fmt: skip
    assert response.status_code == 303
    use_tenant(salon.tenant)
    created = session().get(Booking, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert str(created.customer_id) == first["customer_id"]


def test_no_customer_is_422_with_the_message_by_the_name_field(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/new?service_id={salon.service.id}&date=2027-05-04")
    response = browser.send(page, "booking-form", starts_at=at("2027-05-04 09:00"))
    assert response.status_code == 422
    errored = Page(response.text)
    assert errored.ids["full_name"].get("aria-invalid") == "true"
    assert errored.text("full_name-error")
    assert errored.text("error-summary")


def test_a_bad_phone_is_422_on_the_phone_field(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/new?service_id={salon.service.id}&date=2027-05-04")
    response = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 09:00"), full_name="X", phone="12"
    )
    assert response.status_code == 422
    assert Page(response.text).text("phone-error")


def test_a_time_taken_meanwhile_is_409_and_the_picker_is_fresh(signed_in, client, salon):
    browser = signed_in("owner")
    url = (
        f"/admin/bookings/new?service_id={salon.service.id}&staff_id={salon.nadia.id}"
        "&date=2027-05-04"
    )
    page = browser.page(url)
    book(client, salon, "2027-05-04 09:00")  # someone else takes it first
    response = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 09:00"), full_name="Late", phone="0600000002"
    )
    assert response.status_code == 409
    errored = Page(response.text)
    assert "Nadia" in errored.text("error-summary")
    assert at("2027-05-04 09:00") not in errored.form("booking-form").options["starts_at"]


def test_a_double_submit_makes_one_booking(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/new?service_id={salon.service.id}&date=2027-05-04")
    first = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 09:00"), full_name="A", phone="0600000003"
    )
    second = browser.send(
        page, "booking-form", starts_at=at("2027-05-04 09:00"), full_name="A", phone="0600000003"
    )
    assert first.headers["Location"] == second.headers["Location"]


def test_rescheduling_moves_the_booking_to_a_listed_free_time(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("staff")  # Nadia's own booking
    url = f"/admin/bookings/{created['id']}/reschedule?date=2027-05-05"
    page = browser.page(url)
    assert page.form("reschedule-query").options["staff_id"] == [str(salon.nadia.id)]
    response = browser.send(page, "reschedule-form", starts_at=at("2027-05-05 15:00"))
    assert response.status_code == 303
    use_tenant(salon.tenant)
    moved = session().get(Booking, uuid.UUID(created["id"]))
    session().refresh(moved)
    assert moved.starts_at.isoformat() == "2027-05-05T14:00:00+00:00"


def test_the_reschedule_picker_offers_times_overlapping_only_the_booking_itself(
    signed_in, client, salon
):
    created = book(client, salon, "2027-05-04 10:00")
    longer = client.patch(
        f"/api/v1/services/{salon.service.id}",
        json={"duration_minutes": 60},
        headers={**salon.member("owner").headers, "X-Tenant": salon.tenant.slug},
    )
    assert longer.status_code == 200
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/{created['id']}/reschedule?date=2027-05-04")
    offered = page.form("reschedule-form").options["starts_at"]
    assert at("2027-05-04 09:30") in offered  # overlaps 10:00-10:30, the booking being moved
    assert at("2027-05-04 10:00") not in offered  # where it already is
    karim = browser.page(
        f"/admin/bookings/{created['id']}/reschedule?date=2027-05-04&staff_id={salon.karim.id}"
    )
    assert at("2027-05-04 10:00") in karim.form("reschedule-form").options["starts_at"]


def test_a_reschedule_without_a_time_is_422_on_the_time(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page(f"/admin/bookings/{created['id']}/reschedule?date=2027-05-05")
    response = browser.send(page, "reschedule-form")
    assert response.status_code == 422
    assert Page(response.text).text("starts_at-error")
