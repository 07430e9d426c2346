"""API.md "Customers": fields, consents (written as booleans, read with when and how),
consent history, search, history, export and erasure."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import RFC3339, assert_problem, is_uuid, pagination

CHANNELS = ("sms", "whatsapp", "email", "marketing")
FIELDS = {"id", "full_name", "phone", "email", "locale", "tags", "notes", "consents"}


def test_a_customer_has_the_fields_api_md_lists(http):
    created = http.ok(
        "POST",
        "/customers",
        201,
        json={
            "full_name": "Salma B.",
            "phone": "+212612345678",
            "email": "salma@example.com",
            "locale": "ar",
            "tags": ["vip"],
            "notes": "Allergique",
        },
    )
    assert set(created) >= FIELDS
    assert is_uuid(created["id"])
    assert created["phone"] == "+212612345678"
    assert (created["email"], created["locale"], created["tags"], created["notes"]) == (
        "salma@example.com",
        "ar",
        ["vip"],
        "Allergique",
    )
    path = f"/customers/{created['id']}"
    assert http.ok("GET", path)["full_name"] == "Salma B."
    assert http.ok("PATCH", path, json={"notes": None})["notes"] is None
    assert http.delete(path).status_code == 204


def test_phones_read_as_e164(http):
    created = http.ok("POST", "/customers", 201, json={"full_name": "S", "phone": "06 12 34 56 78"})
    assert created["phone"] == "+212612345678"


def test_consents_start_never_asked_and_read_with_granted_changed_at_source(http):
    created = http.ok("POST", "/customers", 201, json={"full_name": "S"})
    assert set(created["consents"]) == set(CHANNELS)
    for channel in CHANNELS:
        state = created["consents"][channel]
        assert set(state) == {"granted", "changed_at", "source"}
        assert state["granted"] is None


def test_consents_are_written_as_booleans_and_read_as_objects(http):
    created = http.ok(
        "POST",
        "/customers",
        201,
        json={"full_name": "S", "consents": {"sms": False, "marketing": True}},
    )
    sms = created["consents"]["sms"]
    assert sms["granted"] is False
    assert sms["source"] == "staff"
    assert RFC3339.match(sms["changed_at"]) and sms["changed_at"].endswith("+01:00")
    assert created["consents"]["marketing"]["granted"] is True
    assert created["consents"]["email"]["granted"] is None
    changed = http.ok("PATCH", f"/customers/{created['id']}", json={"consents": {"sms": True}})
    assert changed["consents"]["sms"]["granted"] is True
    assert changed["consents"]["marketing"]["granted"] is True  # left out: kept


@pytest.mark.parametrize("value", [None, "yes", 1, {"granted": True}])
def test_consents_take_booleans_only(http, value):
    response = http.post("/customers", {"full_name": "S", "consents": {"sms": value}})
    assert_problem(response, 422, "validation_error")


def test_an_unknown_consent_channel_is_422(http):
    response = http.post("/customers", {"full_name": "S", "consents": {"fax": True}})
    assert_problem(response, 422, "validation_error")


def test_the_consent_history_is_oldest_first_with_channel_granted_source_changed_at(http):
    created = http.ok("POST", "/customers", 201, json={"full_name": "S", "consents": {"sms": True}})
    http.ok("PATCH", f"/customers/{created['id']}", json={"consents": {"sms": False}})
    response = http.get(f"/customers/{created['id']}/consents")
    assert response.status_code == 200
    history = response.get_json()
    assert [(e["channel"], e["granted"]) for e in history] == [("sms", True), ("sms", False)]
    for event in history:
        assert {"channel", "granted", "source", "changed_at"} <= set(event)
        assert event["source"] in {"staff", "public_booking", "reply", "import"}
        assert RFC3339.match(event["changed_at"])
    assert history[0]["changed_at"] <= history[1]["changed_at"]


def test_the_consent_history_is_paginated_like_every_list(http):
    created = http.ok(
        "POST", "/customers", 201, json={"full_name": "S", "consents": {"sms": True, "email": True}}
    )
    response = http.get(f"/customers/{created['id']}/consents", query_string={"page_size": 1})
    assert len(response.get_json()) == 1
    meta = pagination(response)
    assert (meta["total"], meta["total_pages"]) == (2, 2)


def test_a_customer_created_by_a_public_booking_starts_with_every_consent_null(client, http, salon):
    response = client.post(
        "/api/v1/public/bookings",
        json=http.booking_body(salon),
        headers={"X-Tenant": salon.tenant.slug},
    )
    customer = http.ok("GET", f"/customers/{response.get_json()['customer_id']}")
    assert all(customer["consents"][c]["granted"] is None for c in CHANNELS)


def test_a_public_booking_may_carry_consents(client, http, salon):
    body = http.booking_body(salon)
    body["customer"]["consents"] = {"whatsapp": True, "marketing": False}
    response = client.post(
        "/api/v1/public/bookings", json=body, headers={"X-Tenant": salon.tenant.slug}
    )
    customer = http.ok("GET", f"/customers/{response.get_json()['customer_id']}")
    assert customer["consents"]["whatsapp"]["granted"] is True
    assert customer["consents"]["whatsapp"]["source"] == "public_booking"
    assert customer["consents"]["marketing"]["granted"] is False
    assert customer["consents"]["sms"]["granted"] is None


def test_search_by_name_phone_or_email_and_by_tag(http):
    salma = http.ok(
        "POST",
        "/customers",
        201,
        json={
            "full_name": "Salma Bennani",
            "phone": "+212612345678",
            "email": "salma@example.com",
            "tags": ["vip"],
        },
    )
    karim = http.ok(
        "POST", "/customers", 201, json={"full_name": "Karim Alaoui", "phone": "+212698765432"}
    )

    def found(**params):
        response = http.get("/customers", query_string=params)
        assert response.status_code == 200
        assert "X-Pagination" in response.headers
        return [c["id"] for c in response.get_json()]

    assert found(q="bennani") == [salma["id"]]
    assert found(q="0612345678") == [salma["id"]]
    assert found(q="salma@example") == [salma["id"]]
    assert found(tag="vip") == [salma["id"]]
    assert set(found()) == {salma["id"], karim["id"]}


def test_a_customers_history_lists_their_bookings(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    response = http.get(f"/customers/{booking['customer_id']}/bookings")
    assert [b["id"] for b in response.get_json()] == [booking["id"]]
    assert pagination(response)["total"] == 1
    row = response.get_json()[0]
    assert row["starts_at"] == booking["starts_at"]
    assert row["price"] == "80.00"


def test_export_returns_everything_as_json(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    response = http.get(f"/customers/{booking['customer_id']}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "+212612345678" in text and booking["id"] in text


def test_erase_is_204_and_keeps_the_bookings_without_personal_data(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    customer_id = booking["customer_id"]
    response = http.post(f"/customers/{customer_id}/erase")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert http.ok("GET", f"/bookings/{booking['id']}")["customer_id"] == customer_id
    erased = http.ok("GET", f"/customers/{customer_id}")
    assert "Salma" not in str(erased) and "+212612345678" not in str(erased)
