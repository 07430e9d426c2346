"""API.md "Catalog": categories, services, staff, weekly hours, date overrides, time off,
closures, and deleting what future bookings depend on."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import assert_problem, at, is_uuid, pagination

SERVICE_FIELDS = {
    "name", "description", "category_id", "duration_minutes", "price", "currency",
    "buffer_before_minutes", "buffer_after_minutes", "slot_interval_minutes",
    "min_notice_minutes", "max_advance_days", "is_active", "metadata",
}  # fmt: skip
STAFF_FIELDS = {"display_name", "email", "phone", "user_id", "is_active", "service_ids"}


# --- categories -----------------------------------------------------------------------------------


def test_service_categories_crud_with_name_and_position(http):
    created = http.ok("POST", "/service-categories", 201, json={"name": "Cheveux", "position": 2})
    assert is_uuid(created["id"])
    assert (created["name"], created["position"]) == ("Cheveux", 2)
    path = f"/service-categories/{created['id']}"
    assert http.ok("GET", path)["name"] == "Cheveux"
    assert http.ok("PATCH", path, json={"position": 1})["position"] == 1
    listed = http.get("/service-categories")
    assert [c["id"] for c in listed.get_json()] == [created["id"]]
    assert pagination(listed)["total"] == 1
    assert http.delete(path).status_code == 204
    assert_problem(http.get(path), 404, "not_found")


# --- services -------------------------------------------------------------------------------------


def test_a_service_has_the_fields_and_defaults_api_md_lists(http):
    category = http.ok("POST", "/service-categories", 201, json={"name": "Cheveux"})
    created = http.ok(
        "POST",
        "/services",
        201,
        json={
            "name": "Coupe",
            "description": "Shampooing inclus",
            "category_id": category["id"],
            "duration_minutes": 30,
            "price": "150.00",
        },
    )
    assert set(created) >= SERVICE_FIELDS
    assert created["category_id"] == category["id"]
    assert created["price"] == "150.00" and created["currency"] == "MAD"
    assert created["slot_interval_minutes"] == 15
    assert created["min_notice_minutes"] == 60
    assert created["max_advance_days"] == 60
    assert created["buffer_before_minutes"] == 0 and created["buffer_after_minutes"] == 0
    assert created["is_active"] is True
    assert created["metadata"] == {}
    path = f"/services/{created['id']}"
    assert http.ok("GET", path) == created
    changed = http.ok("PATCH", path, json={"is_active": False, "metadata": {"sku": "C-1"}})
    assert changed["is_active"] is False and changed["metadata"] == {"sku": "C-1"}
    assert http.delete(path).status_code == 204
    assert_problem(http.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("duration_minutes", [5, 720], [4, 721, 0]),
        ("buffer_before_minutes", [0, 240], [-1, 241]),
        ("buffer_after_minutes", [0, 240], [-1, 241]),
        ("slot_interval_minutes", [5, 720], [4, 721]),
    ],
)
def test_service_ranges(http, field, good, bad):
    base = {"name": "S", "duration_minutes": 30, "price": "1.00"}
    for i, value in enumerate(good):
        body = {**base, "name": f"S{field}{i}", field: value}
        assert http.post("/services", body).status_code == 201, (field, value)
    for value in bad:
        errors = assert_problem(
            http.post("/services", {**base, field: value}), 422, "validation_error"
        )["errors"]
        assert field in errors


# --- staff ----------------------------------------------------------------------------------------


def test_staff_crud_with_the_fields_api_md_lists(http, tenant):
    service = http.ok(
        "POST", "/services", 201, json={"name": "Coupe", "duration_minutes": 30, "price": "80"}
    )
    created = http.ok(
        "POST",
        "/staff",
        201,
        json={
            "display_name": "Nadia",
            "email": "nadia@example.com",
            "phone": "+212612345678",
            "service_ids": [service["id"]],
        },
    )
    assert set(created) >= STAFF_FIELDS
    assert created["service_ids"] == [service["id"]]
    assert created["user_id"] is None and created["is_active"] is True
    path = f"/staff/{created['id']}"
    assert http.ok("GET", path)["display_name"] == "Nadia"
    assert http.ok("PATCH", path, json={"user_id": str(tenant.owner.user_id)})["user_id"] == str(
        tenant.owner.user_id
    )
    listed = http.get("/staff")
    assert pagination(listed)["total"] == 1
    assert http.delete(path).status_code == 204
    assert_problem(http.get(path), 404, "not_found")


def test_a_staff_phone_must_be_e164(http):
    response = http.post("/staff", {"display_name": "N", "phone": "0612345678"})
    assert "phone" in assert_problem(response, 422, "validation_error")["errors"]


# --- weekly hours ---------------------------------------------------------------------------------

WEEK = [
    {"weekday": 1, "start": "09:00", "end": "13:00"},
    {"weekday": 1, "start": "14:00", "end": "18:00"},
    {"weekday": 7, "start": "10:00", "end": "12:00"},
]


def test_working_hours_put_and_get_the_whole_week_as_a_list(http, salon):
    path = f"/staff/{salon.karim.id}/working-hours"
    assert http.ok("PUT", path, json=WEEK) == WEEK
    assert http.ok("GET", path) == WEEK
    assert http.ok("PUT", path, json=[]) == []
    assert http.ok("GET", path) == []


@pytest.mark.parametrize(
    "week",
    [
        [
            {"weekday": 1, "start": "09:00", "end": "13:00"},
            {"weekday": 1, "start": "12:00", "end": "14:00"},
        ],
        [{"weekday": 2, "start": "10:00", "end": "10:00"}],
        [{"weekday": 2, "start": "11:00", "end": "10:00"}],
        [{"weekday": 0, "start": "09:00", "end": "10:00"}],
        [{"weekday": 8, "start": "09:00", "end": "10:00"}],
        [{"weekday": 1, "start": "9:00", "end": "10:00"}],
        [{"weekday": 1, "start": "09:00:00", "end": "10:00"}],
        [{"weekday": 1, "start": "09:00", "end": "10:00", "id": 1}],
    ],
)
def test_overlapping_empty_or_malformed_intervals_are_422(http, salon, week):
    response = http.put(f"/staff/{salon.karim.id}/working-hours", week)
    assert_problem(response, 422, "validation_error")


# --- date overrides -------------------------------------------------------------------------------


def test_a_date_override_replaces_one_local_date_and_an_empty_list_is_a_day_off(http, salon):
    base = f"/staff/{salon.nadia.id}/date-overrides"
    put = http.ok("PUT", f"{base}/2027-05-04", json=[{"start": "10:00", "end": "14:00"}])
    assert put["date"] == "2027-05-04"
    assert put["intervals"] == [{"start": "10:00", "end": "14:00"}]
    http.ok("PUT", f"{base}/2027-05-05", json=[])
    listed = http.get(base, query_string={"from": "2027-05-01", "to": "2027-05-31"})
    assert listed.get_json() == [
        {"date": "2027-05-04", "intervals": [{"start": "10:00", "end": "14:00"}]},
        {"date": "2027-05-05", "intervals": []},
    ]
    assert pagination(listed)["total"] == 2
    assert http.delete(f"{base}/2027-05-04").status_code == 204
    remaining = http.get(base, query_string={"from": "2027-05-01", "to": "2027-05-31"})
    assert [o["date"] for o in remaining.get_json()] == ["2027-05-05"]


@pytest.mark.parametrize(
    "day", ["2027-02-30", "04-05-2027", "20270504", "tomorrow", "2027-W18-2", "0001-01-01",
            "9999-12-31"],
)  # fmt: skip
def test_a_date_override_path_takes_yyyy_mm_dd(http, salon, day):
    response = http.put(f"/staff/{salon.nadia.id}/date-overrides/{day}", [])
    assert response.status_code in {404, 422}
    assert response.mimetype == "application/problem+json"


def test_overlapping_override_intervals_are_422(http, salon):
    response = http.put(
        f"/staff/{salon.nadia.id}/date-overrides/2027-05-04",
        [{"start": "10:00", "end": "14:00"}, {"start": "13:00", "end": "15:00"}],
    )
    assert_problem(response, 422, "validation_error")


# --- time off and closures ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["time-off", "closures"])
def test_periods_crud_with_starts_at_ends_at_reason(http, salon, kind):
    base = f"/staff/{salon.nadia.id}/time-off" if kind == "time-off" else "/closures"
    created = http.ok(
        "POST",
        base,
        201,
        json={
            "starts_at": "2027-05-10T09:00:00+01:00",
            "ends_at": "2027-05-10T12:00:00+01:00",
            "reason": "Médecin",
        },
    )
    assert is_uuid(created["id"])
    assert created["starts_at"] == "2027-05-10T09:00:00+01:00"
    assert created["ends_at"] == "2027-05-10T12:00:00+01:00"
    assert created["reason"] == "Médecin"
    path = f"{base}/{created['id']}"
    assert http.ok("GET", path)["reason"] == "Médecin"
    assert http.ok("PATCH", path, json={"reason": None})["reason"] is None
    assert pagination(http.get(base))["total"] == 1
    assert http.delete(path).status_code == 204
    assert_problem(http.get(path), 404, "not_found")


@pytest.mark.parametrize("kind", ["time-off", "closures"])
def test_a_period_ending_before_it_starts_is_422(http, salon, kind):
    base = f"/staff/{salon.nadia.id}/time-off" if kind == "time-off" else "/closures"
    response = http.post(
        base, {"starts_at": at("2027-05-10 12:00"), "ends_at": at("2027-05-10 09:00")}
    )
    assert_problem(response, 422, "validation_error")


# --- deleting what bookings depend on -------------------------------------------------------------


def test_deleting_a_service_or_staff_with_future_active_bookings_is_409(http, salon):
    http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    response = http.delete(f"/services/{salon.service.id}")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    response = http.delete(f"/staff/{salon.nadia.id}")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    # Deactivating instead works.
    assert (
        http.ok("PATCH", f"/services/{salon.service.id}", json={"is_active": False})["is_active"]
        is False
    )
    assert (
        http.ok("PATCH", f"/staff/{salon.nadia.id}", json={"is_active": False})["is_active"]
        is False
    )


# --- access before the body -----------------------------------------------------------------------

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", f"/service-categories/{MISSING}"),
        ("PATCH", f"/services/{MISSING}"),
        ("PATCH", f"/staff/{MISSING}"),
        ("PUT", f"/staff/{MISSING}/working-hours"),
        ("PUT", f"/staff/{MISSING}/date-overrides/2027-05-04"),
        ("POST", f"/staff/{MISSING}/time-off"),
        ("PATCH", f"/closures/{MISSING}"),
        ("PATCH", f"/customers/{MISSING}"),
    ],
)
@pytest.mark.parametrize("body", [{"name": "\x00", "unknown": 1}, "{oops"])
def test_an_unknown_object_is_404_whatever_the_body(http, method, path, body):
    kwargs = (
        {"json": body}
        if isinstance(body, dict)
        else {"data": body, "content_type": "application/json"}
    )
    assert_problem(http._call(method, path, **kwargs), 404, "not_found")


def test_unknown_time_off_is_404_whatever_the_body(http, salon):
    path = f"/staff/{salon.nadia.id}/time-off/{MISSING}"
    assert_problem(http.patch(path, {"bogus": "\x00"}), 404, "not_found")
