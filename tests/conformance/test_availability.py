"""API.md "Availability": the response shape, the time zone, ordering and staff_ids."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import RFC3339, assert_problem, at, is_uuid
from tests.factories import make_closure, make_override, make_time_off, use_tenant


def slots(http, salon, path="/availability", **params):
    query = {"service_id": str(salon.service.id), "from": "2027-05-04", "to": "2027-05-04"}
    query.update(params)
    return http.ok("GET", path, query_string=query)


def test_the_response_has_the_shape_api_md_shows(http, salon):
    body = slots(http, salon)
    assert set(body) == {"service_id", "timezone", "from", "to", "slots"}
    assert body["service_id"] == str(salon.service.id)
    assert body["timezone"] == "Africa/Casablanca"
    assert (body["from"], body["to"]) == ("2027-05-04", "2027-05-04")
    assert body["slots"]
    for slot in body["slots"]:
        assert set(slot) == {"starts_at", "ends_at", "staff_ids"}
        assert RFC3339.match(slot["starts_at"]) and slot["starts_at"].endswith("+01:00")
        assert RFC3339.match(slot["ends_at"]) and slot["ends_at"].endswith("+01:00")
        assert slot["staff_ids"] and all(is_uuid(i) for i in slot["staff_ids"])


def test_slots_are_ordered_by_starts_at_and_list_each_free_staff_member(http, salon):
    body = slots(http, salon)
    starts = [s["starts_at"] for s in body["slots"]]
    assert starts == sorted(starts)
    assert len(starts) == len(set(starts))
    first = body["slots"][0]
    # 30-minute grid from each working interval's start, in local time.
    assert first["starts_at"] == "2027-05-04T09:00:00+01:00"
    assert first["ends_at"] == "2027-05-04T09:30:00+01:00"
    assert set(first["staff_ids"]) == {str(salon.nadia.id), str(salon.karim.id)}
    local_times = [s["starts_at"][11:16] for s in body["slots"]]
    assert "13:00" not in local_times and "12:30" in local_times and "14:00" in local_times


def test_a_booked_time_drops_that_staff_member_from_the_slot(http, salon):
    http.ok("POST", "/bookings", 201, json=http.booking_body(salon, "2027-05-04 10:00"))
    by_start = {s["starts_at"]: s["staff_ids"] for s in slots(http, salon)["slots"]}
    assert by_start[at("2027-05-04 10:00")] == [str(salon.karim.id)]


def test_staff_id_restricts_to_one_member(http, salon):
    body = slots(http, salon, staff_id=str(salon.karim.id))
    assert body["slots"]
    assert all(s["staff_ids"] == [str(salon.karim.id)] for s in body["slots"])


def test_overrides_time_off_and_closures_are_honoured(http, salon):
    use_tenant(salon.tenant)
    make_override(salon.nadia, "2027-05-04", [])  # a day off
    make_time_off(salon.karim, at("2027-05-04 09:00"), at("2027-05-04 12:00"))
    make_closure(at("2027-05-05 00:00"), at("2027-05-06 00:00"))
    body = slots(http, salon, to="2027-05-05")
    assert all(s["staff_ids"] == [str(salon.karim.id)] for s in body["slots"])
    assert all(s["starts_at"] >= at("2027-05-04 12:00") for s in body["slots"])
    assert not [s for s in body["slots"] if s["starts_at"].startswith("2027-05-05")]


def test_min_notice_and_horizon_bound_the_slots(http, salon):
    # Now is 09:00 local on 3 May; the notice is 60 minutes; the horizon 60 days.
    today = slots(http, salon, **{"from": "2027-05-03", "to": "2027-05-03"})["slots"]
    assert today and today[0]["starts_at"] == at("2027-05-03 10:00")
    beyond = slots(http, salon, **{"from": "2027-07-03", "to": "2027-07-04"})["slots"]
    assert beyond == []


def test_the_public_endpoint_answers_without_a_token(client, salon):
    response = client.get(
        "/api/v1/public/availability",
        query_string={
            "service_id": str(salon.service.id),
            "from": "2027-05-04",
            "to": "2027-05-04",
        },
        headers={"X-Tenant": salon.tenant.slug},
    )
    assert response.status_code == 200
    assert response.get_json()["timezone"] == "Africa/Casablanca"
    assert response.get_json()["slots"]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2027-05-01", "to": "2027-07-02"},  # 63 days
        {"from": "2027-05-04", "to": "2027-05-03"},
        {"from": "2027-05-04T00:00:00+01:00", "to": "2027-05-04"},
        {"from": "04/05/2027", "to": "2027-05-04"},
    ],
)
def test_at_most_62_local_dates(http, salon, params):
    query = {"service_id": str(salon.service.id), **params}
    assert_problem(http.get("/availability", query_string=query), 422, "validation_error")


def test_62_days_are_accepted(http, salon):
    body = slots(http, salon, **{"from": "2027-05-03", "to": "2027-07-03"})
    assert body["from"] == "2027-05-03" and body["to"] == "2027-07-03"


def test_an_unknown_service_is_404(http, salon):
    query = {
        "service_id": "00000000-0000-0000-0000-000000000000",
        "from": "2027-05-04",
        "to": "2027-05-04",
    }
    assert_problem(http.get("/availability", query_string=query), 404, "not_found")


@pytest.mark.parametrize("value", ["20270504", "2027-W18-2", "2027-124", "2027-5-4", "2027-02-30"])
def test_local_dates_must_be_yyyy_mm_dd(http, salon, value):
    query = {"service_id": str(salon.service.id), "from": value, "to": "2027-05-04"}
    response = http.get("/availability", query_string=query)
    assert_problem(response, 422, "validation_error")
    assert "from" in response.get_json()["errors"]
