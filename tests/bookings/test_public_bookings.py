"""The public booking flow: /public/bookings and the manage link."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bookme.bookings.models import Booking, ManageToken
from bookme.core import clock, crypto
from bookme.core.db import session
from bookme.customers.models import Customer
from tests.bookings.conftest import NOW, at
from tests.factories import use_tenant


def _body(salon, starts_at="2027-05-04 10:00", **extra):
    body = {
        "service_id": str(salon.service.id),
        "staff_id": str(salon.nadia.id),
        "starts_at": at(starts_at),
        "customer": {"full_name": "Salma B.", "phone": "+212612345678", "locale": "ar"},
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def _book(client, salon, starts_at="2027-05-04 10:00", **extra):
    return client.post(
        "/api/v1/public/bookings",
        json=_body(salon, starts_at, **extra),
        headers={"X-Tenant": salon.tenant.slug},
    )


@pytest.fixture
def booked(client, salon):
    response = _book(client, salon)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_public_booking_creates_the_customer_and_returns_its_manage_token_once(
    client, salon, booked
):
    assert booked["status"] == "confirmed"
    assert booked["starts_at"] == "2027-05-04T10:00:00+01:00"
    assert (booked["price"], booked["currency"], booked["payment_status"]) == (
        "80.00",
        "MAD",
        "none",
    )
    token = booked["manage_token"]
    assert len(token) >= 22  # at least 128 random bits, URL-safe base64
    assert booked["manage_url"] == f"http://bookme.test/m/{token}"
    use_tenant(salon.tenant)
    customer = session().get(Customer, uuid.UUID(booked["customer_id"]))
    assert (customer.full_name, customer.phone, customer.locale) == (
        "Salma B.",
        "+212612345678",
        "ar",
    )
    row = session().get(Booking, uuid.UUID(booked["id"]))
    assert row.source == "public"
    assert row.manage_token_hash == crypto.token_hash(token)
    assert token not in row.manage_token_encrypted
    assert crypto.decrypt(row.manage_token_encrypted) == token
    indexed = session().get(ManageToken, crypto.token_hash(token))
    assert (indexed.tenant_id, indexed.booking_id) == (salon.tenant.id, row.id)
    staff_view = client.get(f"/api/v1/bookings/{booked['id']}", headers=salon.tenant.headers())
    assert token not in staff_view.get_data(as_text=True)
    assert "manage_token" not in staff_view.get_json()


def test_staff_made_bookings_get_a_manage_token_too(client, salon):
    from bookme.bookings.service import manage_url

    response = client.post("/api/v1/bookings", json=_body(salon), headers=salon.tenant.headers())
    use_tenant(salon.tenant)
    row = session().get(Booking, uuid.UUID(response.get_json()["id"]))
    url = manage_url(row)
    token = url.rsplit("/", 1)[1]
    assert url.startswith("http://bookme.test/m/")
    assert client.get(f"/api/v1/public/bookings/{token}").status_code == 200


def test_the_second_public_booking_finds_the_customer_by_phone(client, salon, booked):
    again = _book(
        client, salon, "2027-05-04 11:00", customer={"full_name": "S", "phone": "0612345678"}
    )
    assert again.get_json()["customer_id"] == booked["customer_id"]


@pytest.mark.parametrize(
    "change",
    [{"customer": None}, {"customer_id": str(uuid.uuid4())}, {"customer": {"full_name": "X"}}],
)
def test_a_public_booking_needs_a_reachable_customer_and_takes_no_customer_id(
    client, salon, change
):
    body = {k: v for k, v in {**_body(salon), **change}.items() if v is not None}
    response = client.post(
        "/api/v1/public/bookings", json=body, headers={"X-Tenant": salon.tenant.slug}
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_a_public_booking_needs_a_tenant(client, salon):
    response = client.post("/api/v1/public/bookings", json=_body(salon))
    assert response.status_code == 400
    assert response.get_json()["code"] == "tenant_required"


def test_an_unlisted_time_is_slot_unavailable_in_public_too(client, salon, booked):
    response = _book(client, salon)
    assert response.status_code == 409
    assert response.get_json()["code"] == "slot_unavailable"


# --- the manage link ------------------------------------------------------------------------------


def test_the_manage_link_shows_the_booking_without_a_tenant_header(client, salon, booked):
    response = client.get(f"/api/v1/public/bookings/{booked['manage_token']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == booked["id"]
    assert body["status"] == "confirmed"
    assert body["starts_at"] == "2027-05-04T10:00:00+01:00"
    assert body["service"]["name"] == "Coupe"
    assert body["staff"]["display_name"] == "Nadia"
    assert body["business"]["slug"] == salon.tenant.slug
    assert body["amount_due"] == "80.00"
    assert body["changeable_until"] == "2027-05-03T10:00:00+01:00"
    assert body["can_change"] is True
    assert "manage_token" not in body and "customer_id" not in body


@pytest.mark.parametrize("token", ["nope", "x" * 40, "a" * 200, "%00" * 10])
def test_an_unknown_manage_token_is_not_found(client, token):
    response = client.get(f"/api/v1/public/bookings/{token}")
    assert response.status_code == 404
    assert client.post(f"/api/v1/public/bookings/{token}/cancel", json={}).status_code == 404


def test_the_customer_cancels_before_the_cutoff(client, salon, booked):
    response = client.post(
        f"/api/v1/public/bookings/{booked['manage_token']}/cancel", json={"reason": "Travel"}
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["can_change"] is False
    trail = client.get(
        f"/api/v1/bookings/{booked['id']}/events", headers=salon.tenant.headers()
    ).get_json()
    assert trail[-1]["type"] == "cancelled"
    assert trail[-1]["actor"]["kind"] == "customer"
    again = client.post(f"/api/v1/public/bookings/{booked['manage_token']}/cancel", json={})
    assert again.status_code == 409
    assert again.get_json()["code"] == "invalid_transition"


def test_after_the_cutoff_the_customer_can_no_longer_cancel_or_reschedule(client, booked):
    clock.advance(timedelta(hours=1))  # 10:00, exactly 24 hours before
    token = booked["manage_token"]
    for path, body in (("cancel", {}), ("reschedule", {"starts_at": at("2027-05-05 10:00")})):
        response = client.post(f"/api/v1/public/bookings/{token}/{path}", json=body)
        assert response.status_code == 409, path
        assert response.get_json()["code"] == "cancellation_window_passed"
    assert client.get(f"/api/v1/public/bookings/{token}").get_json()["can_change"] is False


def test_the_cutoff_is_the_tenants_setting(client, salon, booked):
    from bookme.tenants.models import Tenant

    tenant = session().get(Tenant, salon.tenant.id)
    tenant.settings = {**tenant.settings, "cancellation_cutoff_hours": 2}
    session().commit()
    clock.advance(timedelta(hours=20))  # 05:00 UTC on the day: 4 hours ahead
    response = client.post(f"/api/v1/public/bookings/{booked['manage_token']}/cancel", json={})
    assert response.status_code == 200


def test_the_customer_reschedules_to_a_listed_time(client, salon, booked):
    token = booked["manage_token"]
    moved = client.post(
        f"/api/v1/public/bookings/{token}/reschedule", json={"starts_at": at("2027-05-05 15:00")}
    )
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["starts_at"] == "2027-05-05T15:00:00+01:00"
    refused = client.post(
        f"/api/v1/public/bookings/{token}/reschedule", json={"starts_at": at("2027-05-05 13:00")}
    )
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "slot_unavailable"


def test_a_suspended_business_answers_no_manage_link(client, salon, booked):
    from bookme.tenants.service import set_status

    set_status(slug=salon.tenant.slug, status="suspended", now=NOW)
    response = client.get(f"/api/v1/public/bookings/{booked['manage_token']}")
    assert response.status_code == 403
    assert response.get_json()["code"] == "tenant_suspended"


# --- rate limits ----------------------------------------------------------------------------------


def _later(index):
    day = 4 + index // 8
    hour = 9 + index % 8 // 2
    minute = "30" if index % 2 else "00"
    return f"2027-05-{day:02d} {hour:02d}:{minute}"


def test_five_public_bookings_an_hour_per_phone_number(client, salon):
    for index in range(5):
        assert _book(client, salon, _later(index)).status_code == 201
    response = _book(
        client, salon, _later(5), customer={"full_name": "S", "phone": "06 12 34 56 78"}
    )
    assert response.status_code == 429
    assert response.get_json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    other = _book(client, salon, _later(6), customer={"full_name": "T", "phone": "+212699999999"})
    assert other.status_code == 201


def test_retries_of_one_idempotency_key_do_not_use_up_the_phone_numbers_bookings(client, salon):
    def book(index, key):
        return client.post(
            "/api/v1/public/bookings",
            json=_body(salon, _later(index)),
            headers={"X-Tenant": salon.tenant.slug, "Idempotency-Key": key},
        )

    first = book(0, "retry-me")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    for _ in range(6):
        again = book(0, "retry-me")
        assert again.status_code == 201, again.get_json()
        assert again.get_json() == first.get_json()
        assert again.headers["Idempotent-Replayed"] == "true"
    # The phone number still has its other four bookings of the hour, and no more.
    statuses = [book(index, f"key-{index}").status_code for index in range(1, 6)]
    assert statuses == [201, 201, 201, 201, 429]


def test_twenty_public_bookings_a_minute_per_client_address(client, salon):
    statuses = []
    for index in range(21):
        customer = {"full_name": "C", "email": f"c{index}@example.com"}
        statuses.append(_book(client, salon, _later(index), customer=customer).status_code)
    assert statuses[:20] == [201] * 20
    assert statuses[20] == 429


def test_a_refused_booking_leaves_no_new_customer_behind(client, salon, booked):
    taken = _book(client, salon, customer={"full_name": "New", "phone": "+212677777777"})
    assert taken.status_code == 409
    use_tenant(salon.tenant)
    phones = session().scalars(sa.select(Customer.phone)).all()
    assert "+212677777777" not in phones
