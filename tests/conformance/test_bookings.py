"""API.md "Bookings": creation, idempotency, lifecycle, events and the manage link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bookme.core import clock
from tests.conformance.conftest import (
    MONEY,
    RFC3339,
    assert_problem,
    at,
    is_uuid,
    pagination,
)
from tests.factories import make_time_off, use_tenant

CREATED_FIELDS = {
    "id", "status", "service_id", "staff_id", "customer_id", "starts_at", "ends_at", "price",
    "currency", "created_at",
}  # fmt: skip
STATUSES = {"pending", "confirmed", "cancelled", "completed", "no_show"}


def public(client, salon, body, headers=None, address="10.2.0.1"):
    return client.post(
        "/api/v1/public/bookings",
        json=body,
        headers={"X-Tenant": salon.tenant.slug, **(headers or {})},
        environ_base={"REMOTE_ADDR": address},
    )


# --- creation -------------------------------------------------------------------------------------


def test_a_member_booking_is_201_with_the_fields_and_no_manage_token(http, salon):
    response = http.post("/bookings", http.booking_body(salon, notes="Première visite"))
    assert response.status_code == 201
    booking = response.get_json()
    assert set(booking) >= CREATED_FIELDS
    assert "manage_token" not in booking and "manage_url" not in booking
    assert is_uuid(booking["id"]) and booking["status"] in STATUSES
    assert booking["service_id"] == str(salon.service.id)
    assert booking["staff_id"] == str(salon.nadia.id)
    assert is_uuid(booking["customer_id"])
    assert booking["starts_at"] == "2027-05-04T10:00:00+01:00"
    assert booking["ends_at"] == "2027-05-04T10:30:00+01:00"
    assert booking["price"] == "80.00" and MONEY.match(booking["price"])
    assert booking["currency"] == "MAD"
    assert RFC3339.match(booking["created_at"]) and booking["created_at"].endswith("+01:00")


def test_a_public_booking_is_201_with_a_manage_token_shown_once(client, http, salon):
    response = public(client, salon, http.booking_body(salon))
    assert response.status_code == 201
    booking = response.get_json()
    assert set(booking) >= CREATED_FIELDS
    token = booking["manage_token"]
    assert isinstance(token, str) and len(token) >= 22  # 128 bits at least, base64url
    # The customer's link: {PUBLIC_BASE_URL}/m/{manage_token}, a page that needs no login.
    assert booking["manage_url"] == f"http://bookme.test/m/{token}"
    page = client.get(f"/m/{token}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    # Staff views never show it.
    for path in (f"/bookings/{booking['id']}", "/bookings", f"/bookings/{booking['id']}/events"):
        assert token not in http.get(path).get_data(as_text=True)
    customer = http.get(f"/customers/{booking['customer_id']}").get_data(as_text=True)
    assert token not in customer


def test_staff_id_omitted_assigns_a_qualified_free_member(http, salon):
    first = http.ok("POST", "/bookings", 201, json=http.booking_body(salon, staff_id=None))
    second = http.ok(
        "POST",
        "/bookings",
        201,
        json=http.booking_body(
            salon, staff_id=None, customer={"full_name": "B", "phone": "+212600000002"}
        ),
    )
    assert {first["staff_id"], second["staff_id"]} == {str(salon.nadia.id), str(salon.karim.id)}
    third = http.post(
        "/bookings",
        http.booking_body(
            salon, staff_id=None, customer={"full_name": "C", "phone": "+212600000003"}
        ),
    )
    assert_problem(third, 409, "slot_unavailable")


def test_members_may_send_customer_id_instead_of_customer(http, salon):
    customer = http.ok(
        "POST", "/customers", 201, json={"full_name": "Salma", "phone": "+212612345678"}
    )
    body = http.booking_body(salon, customer=None, customer_id=customer["id"])
    assert http.ok("POST", "/bookings", 201, json=body)["customer_id"] == customer["id"]


def test_a_public_booking_finds_the_customer_by_phone_or_email(client, http, salon):
    customer = http.ok(
        "POST",
        "/customers",
        201,
        json={"full_name": "Salma", "phone": "+212612345678", "email": "salma@example.com"},
    )
    by_phone = public(client, salon, http.booking_body(salon)).get_json()
    by_email = public(
        client,
        salon,
        http.booking_body(
            salon, "2027-05-04 11:00", customer={"full_name": "S.", "email": "salma@example.com"}
        ),
    ).get_json()
    assert by_phone["customer_id"] == by_email["customer_id"] == customer["id"]


def test_a_public_booking_refuses_customer_id(client, http, salon):
    customer = http.ok("POST", "/customers", 201, json={"full_name": "Salma"})
    body = http.booking_body(salon, customer_id=customer["id"])
    assert (
        "customer_id"
        in assert_problem(public(client, salon, body), 422, "validation_error")["errors"]
    )


@pytest.mark.parametrize(
    "starts_at",
    [
        "2027-05-04 08:30",  # before the working hours
        "2027-05-04 13:00",  # the lunch break
        "2027-05-04 10:15",  # off the 30-minute grid
        "2027-05-03 09:30",  # sooner than the 60-minute notice
        "2027-07-10 10:00",  # past the 60-day horizon
        "2027-05-05 10:00",  # time off (below)
    ],
)
def test_times_that_cannot_be_booked_are_409_slot_unavailable(http, salon, starts_at):
    use_tenant(salon.tenant)
    make_time_off(salon.nadia, at("2027-05-05 09:00"), at("2027-05-05 12:00"))
    response = http.post("/bookings", http.booking_body(salon, starts_at))
    assert_problem(response, 409, "slot_unavailable")


# --- idempotency ----------------------------------------------------------------------------------


def test_the_same_key_and_request_replays_the_first_answer(http, salon):
    key = {"Idempotency-Key": "order-1"}
    first = http.post("/bookings", http.booking_body(salon), headers=key)
    again = http.post("/bookings", http.booking_body(salon), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert len(http.get("/bookings").get_json()) == 1


def test_a_replayed_error_keeps_its_status_and_body(http, salon):
    http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    key = {"Idempotency-Key": "order-2"}
    body = http.booking_body(salon, customer={"full_name": "B", "phone": "+212600000009"})
    first = http.post("/bookings", body, headers=key)
    assert_problem(first, 409, "slot_unavailable")
    again = http.post("/bookings", body, headers=key)
    assert again.status_code == 409
    assert again.get_json() == first.get_json()
    assert again.mimetype == "application/problem+json"


def test_the_same_key_with_another_request_is_422_idempotency_key_reused(http, salon):
    key = {"Idempotency-Key": "order-3"}
    http.ok("POST", "/bookings", 201, json=http.booking_body(salon), headers=key)
    other = http.post("/bookings", http.booking_body(salon, "2027-05-04 11:00"), headers=key)
    assert_problem(other, 422, "idempotency_key_reused")


def test_public_bookings_honour_idempotency_keys(client, http, salon):
    key = {"Idempotency-Key": "public-1"}
    first = public(client, salon, http.booking_body(salon), headers=key)
    again = public(client, salon, http.booking_body(salon), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()


def test_an_idempotency_key_has_up_to_255_characters(http, salon):
    ok = http.post("/bookings", http.booking_body(salon), headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 201
    long = http.post(
        "/bookings",
        http.booking_body(salon, "2027-05-04 11:00"),
        headers={"Idempotency-Key": "k" * 256},
    )
    assert_problem(long, 422, "validation_error")


# --- lifecycle ------------------------------------------------------------------------------------


def _booking(http, salon, starts_at="2027-05-04 10:00"):
    return http.ok("POST", "/bookings", 201, json=http.booking_body(salon, starts_at))


def _started(booking):
    clock.advance(timedelta(days=1, hours=2))  # 4 May, 11:00 local: the booking has started
    return booking


def test_confirmed_goes_to_completed(http, salon):
    booking = _started(_booking(http, salon))
    assert booking["status"] == "confirmed"
    done = http.ok("POST", f"/bookings/{booking['id']}/complete")
    assert done["status"] == "completed"
    for action in ("confirm", "cancel", "complete", "no-show"):
        response = http.post(
            f"/bookings/{booking['id']}/{action}", {} if action == "cancel" else None
        )
        assert_problem(response, 409, "invalid_transition")


def test_confirmed_goes_to_no_show(http, salon):
    booking = _started(_booking(http, salon))
    assert http.ok("POST", f"/bookings/{booking['id']}/no-show")["status"] == "no_show"
    assert_problem(
        http.post(f"/bookings/{booking['id']}/reschedule", {"starts_at": at("2027-05-06 10:00")}),
        409,
        "invalid_transition",
    )


def test_confirmed_goes_to_cancelled_with_a_reason(http, salon):
    booking = _booking(http, salon)
    cancelled = http.ok("POST", f"/bookings/{booking['id']}/cancel", json={"reason": "Malade"})
    assert cancelled["status"] == "cancelled"
    for action in ("confirm", "complete", "no-show"):
        assert_problem(http.post(f"/bookings/{booking['id']}/{action}"), 409, "invalid_transition")
    assert_problem(http.post(f"/bookings/{booking['id']}/cancel", {}), 409, "invalid_transition")
    assert_problem(
        http.post(f"/bookings/{booking['id']}/reschedule", {"starts_at": at("2027-05-06 10:00")}),
        409,
        "invalid_transition",
    )


def test_confirming_a_confirmed_booking_is_invalid(http, salon):
    booking = _booking(http, salon)
    assert_problem(http.post(f"/bookings/{booking['id']}/confirm"), 409, "invalid_transition")


def test_reschedule_moves_a_confirmed_booking_and_is_atomic(http, salon):
    booking = _booking(http, salon)
    other = http.ok(
        "POST",
        "/bookings",
        201,
        json=http.booking_body(
            salon, "2027-05-04 11:00", customer={"full_name": "B", "phone": "+212600000004"}
        ),
    )
    moved = http.ok(
        "POST", f"/bookings/{booking['id']}/reschedule", json={"starts_at": at("2027-05-04 12:00")}
    )
    assert moved["starts_at"] == at("2027-05-04 12:00")
    assert moved["ends_at"] == at("2027-05-04 12:30")
    refused = http.post(f"/bookings/{booking['id']}/reschedule", {"starts_at": other["starts_at"]})
    assert_problem(refused, 409, "slot_unavailable")
    assert http.ok("GET", f"/bookings/{booking['id']}")["starts_at"] == at("2027-05-04 12:00")
    to_karim = http.ok(
        "POST",
        f"/bookings/{booking['id']}/reschedule",
        json={"starts_at": at("2027-05-04 11:00"), "staff_id": str(salon.karim.id)},
    )
    assert to_karim["staff_id"] == str(salon.karim.id)


def test_a_reschedule_time_without_an_offset_is_422(http, salon):
    booking = _booking(http, salon)
    response = http.post(
        f"/bookings/{booking['id']}/reschedule", {"starts_at": "2027-05-04T12:00:00"}
    )
    assert "starts_at" in assert_problem(response, 422, "validation_error")["errors"]


# --- events ---------------------------------------------------------------------------------------


def test_events_are_the_audit_trail_oldest_first(http, salon):
    booking = _booking(http, salon)
    http.ok(
        "POST", f"/bookings/{booking['id']}/reschedule", json={"starts_at": at("2027-05-04 12:00")}
    )
    http.ok("POST", f"/bookings/{booking['id']}/cancel", json={"reason": "x"})
    response = http.get(f"/bookings/{booking['id']}/events")
    assert response.status_code == 200
    events = response.get_json()
    assert len(events) >= 3
    for event in events:
        assert {"type", "from_status", "to_status", "actor", "data", "created_at"} <= set(event)
        assert RFC3339.match(event["created_at"])
    times = [e["created_at"] for e in events]
    assert times == sorted(times)
    assert events[-1]["from_status"] == "confirmed"
    assert events[-1]["to_status"] == "cancelled"


def test_instants_inside_event_data_carry_the_tenants_offset(http, salon):
    booking = _booking(http, salon)
    http.ok(
        "POST", f"/bookings/{booking['id']}/reschedule", json={"starts_at": at("2027-05-04 12:00")}
    )
    text = http.get(f"/bookings/{booking['id']}/events").get_data(as_text=True)
    instants = re.findall(r'"(\d{4}-\d{2}-\d{2}T[^"]+)"', text)
    assert instants
    assert [i for i in instants if not i.endswith("+01:00")] == []


def test_events_are_paginated_like_every_list(http, salon):
    booking = _booking(http, salon)
    response = http.get(f"/bookings/{booking['id']}/events", query_string={"page_size": 1})
    assert len(response.get_json()) == 1
    assert pagination(response)["total"] >= 1


# --- lists ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", ["from", "to"])
def test_a_filter_instant_without_an_offset_is_422(http, salon, bound):
    response = http.get("/bookings", query_string={bound: "2027-05-04T10:00:00"})
    assert bound in assert_problem(response, 422, "validation_error")["errors"]


def test_get_bookings_filters_and_paginates(http, salon):
    a = _booking(http, salon, "2027-05-04 10:00")
    b = http.ok(
        "POST",
        "/bookings",
        201,
        json=http.booking_body(
            salon,
            "2027-05-05 10:00",
            staff_id=str(salon.karim.id),
            customer={"full_name": "B", "phone": "+212600000005"},
        ),
    )
    http.ok("POST", f"/bookings/{b['id']}/cancel", json={})

    def ids(**params):
        response = http.get("/bookings", query_string=params)
        assert response.status_code == 200
        return [x["id"] for x in response.get_json()]

    assert ids() == [a["id"], b["id"]]
    assert ids(**{"from": "2027-05-05"}) == [b["id"]]
    assert ids(to="2027-05-04") == [a["id"]]
    assert ids(staff_id=str(salon.karim.id)) == [b["id"]]
    assert ids(customer_id=a["customer_id"]) == [a["id"]]
    assert ids(status="cancelled") == [b["id"]]
    page = http.get("/bookings", query_string={"page": 2, "page_size": 1})
    assert [x["id"] for x in page.get_json()] == [b["id"]]
    meta = pagination(page)
    assert (meta["total"], meta["total_pages"], meta["page"]) == (2, 2, 2)


# --- the manage link ------------------------------------------------------------------------------


def test_the_manage_link_needs_no_tenant_header(client, http, salon):
    created = public(client, salon, http.booking_body(salon)).get_json()
    token = created["manage_token"]
    view = client.get(f"/api/v1/public/bookings/{token}")
    assert view.status_code == 200
    body = view.get_json()
    assert body["id"] == created["id"]
    assert body["starts_at"] == created["starts_at"]
    assert "manage_token" not in body
    moved = client.post(
        f"/api/v1/public/bookings/{token}/reschedule", json={"starts_at": at("2027-05-05 10:00")}
    )
    assert moved.status_code == 200
    assert moved.get_json()["starts_at"] == at("2027-05-05 10:00")
    cancelled = client.post(f"/api/v1/public/bookings/{token}/cancel", json={"reason": "Empêché"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"


def test_an_unknown_manage_token_is_404(client, db):
    assert_problem(client.get("/api/v1/public/bookings/" + "x" * 43), 404, "not_found")
    assert_problem(
        client.post("/api/v1/public/bookings/" + "x" * 43 + "/cancel", json={}), 404, "not_found"
    )


def test_customers_cannot_cancel_or_reschedule_after_the_cutoff(client, http, salon):
    created = public(client, salon, http.booking_body(salon, "2027-05-04 10:00")).get_json()
    token = created["manage_token"]
    clock.advance(timedelta(hours=2))  # 11:00 on 3 May: 23 hours before, cutoff is 24
    assert_problem(
        client.post(f"/api/v1/public/bookings/{token}/cancel", json={}),
        409,
        "cancellation_window_passed",
    )
    assert_problem(
        client.post(
            f"/api/v1/public/bookings/{token}/reschedule",
            json={"starts_at": at("2027-05-06 10:00")},
        ),
        409,
        "cancellation_window_passed",
    )
    # The business still can.
    assert http.ok("POST", f"/bookings/{created['id']}/cancel", json={})["status"] == "cancelled"


# --- public rate limits ---------------------------------------------------------------------------


def test_public_bookings_allow_20_a_minute_per_client_address(client, http, salon):
    for i in range(20):
        body = http.booking_body(
            salon,
            "2027-05-04 10:00",
            staff_id=None,
            service_id="00000000-0000-0000-0000-000000000000",
            customer={"full_name": "X", "phone": f"+2126000001{i:02d}"},
        )
        response = public(client, salon, body, address="10.3.0.1")
        assert response.status_code != 429
    response = public(client, salon, http.booking_body(salon), address="10.3.0.1")
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1
    assert public(client, salon, http.booking_body(salon), address="10.3.0.2").status_code == 201


def test_public_bookings_allow_5_an_hour_per_phone_number(client, http, salon):
    times = ["09:00", "09:30", "10:00", "10:30", "11:00"]
    for i, time in enumerate(times):
        response = public(
            client, salon, http.booking_body(salon, f"2027-05-04 {time}"), address=f"10.4.{i}.1"
        )
        assert response.status_code == 201, response.get_json()
        assert "Retry-After" not in response.headers  # only a 429 says when to come back
    response = public(
        client, salon, http.booking_body(salon, "2027-05-04 11:30"), address="10.4.9.1"
    )
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("to", "9999-12-31"), ("from", "0001-01-01"), ("to", "2027-W18-2"), ("from", "20270504")],
)
@pytest.mark.parametrize("path", ["/bookings", "/payments", "/invoices"])
def test_a_list_filter_bound_out_of_range_or_shape_is_422(http, salon, path, name, value):
    response = http.get(path, query_string={name: value})
    assert_problem(response, 422, "validation_error")
    assert name in response.get_json()["errors"]


@pytest.mark.parametrize("path", ["/bookings", "/public/bookings"])
def test_a_bad_customer_phone_or_email_is_reported_under_customer(client, http, salon, path):
    for field, value in (("phone", "abc"), ("email", "not-an-address")):
        customer = {"full_name": "Salma B.", field: value}
        response = http.post(path, http.booking_body(salon, customer=customer))
        assert_problem(response, 422, "validation_error")
        errors = response.get_json()["errors"]
        assert list(errors) == ["customer"] and list(errors["customer"]) == [field], errors
