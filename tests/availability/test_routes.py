"""The availability endpoints over HTTP: members, the public, validation, what stays hidden."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from bookme.core import clock
from tests.availability.helpers import set_timezone
from tests.conftest import add_member
from tests.factories import make_service, make_staff

NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def salon(tenant):
    set_timezone(tenant, "Africa/Casablanca")
    cut = make_service(duration_minutes=30, slot_interval_minutes=30, min_notice_minutes=60)
    nadia = make_staff(services=[cut], hours={1: [("09:00", "10:00")]}, display_name="Nadia")
    omar = make_staff(services=[cut], hours={1: [("09:30", "10:30")]}, display_name="Omar")
    return cut, nadia, omar


@pytest.fixture(autouse=True)
def frozen_clock():
    with clock.frozen(NOW):
        yield


def query(service, **extra):
    return {"service_id": str(service.id), "from": "2027-03-15", "to": "2027-03-15", **extra}


def expected_body(cut, nadia, omar):
    return {
        "service_id": str(cut.id),
        "timezone": "Africa/Casablanca",
        "from": "2027-03-15",
        "to": "2027-03-15",
        "slots": [
            {"starts_at": "2027-03-15T09:00:00+01:00", "ends_at": "2027-03-15T09:30:00+01:00",
             "staff_ids": [str(nadia.id)]},
            {"starts_at": "2027-03-15T09:30:00+01:00", "ends_at": "2027-03-15T10:00:00+01:00",
             "staff_ids": [str(nadia.id), str(omar.id)]},
            {"starts_at": "2027-03-15T10:00:00+01:00", "ends_at": "2027-03-15T10:30:00+01:00",
             "staff_ids": [str(omar.id)]},
        ],
    }  # fmt: skip


def test_any_member_sees_the_slots_with_the_tenants_offset(client, tenant, salon):
    staff_member = add_member(tenant, "staff")
    response = client.get(
        "/api/v1/availability", query_string=query(salon[0]), headers=tenant.headers(staff_member)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == expected_body(*salon)


def test_customers_see_the_same_slots_without_a_token(client, tenant, salon):
    response = client.get(
        "/api/v1/public/availability", query_string=query(salon[0]),
        headers={"X-Tenant": tenant.slug},
    )  # fmt: skip
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == expected_body(*salon)


def test_offsets_follow_the_change_inside_the_range(client, tenant):
    set_timezone(tenant, "Africa/Casablanca")
    cut = make_service(duration_minutes=60, slot_interval_minutes=60, min_notice_minutes=0)
    make_staff(services=[cut], hours={6: [("09:00", "10:00")], 1: [("09:00", "10:00")]})
    response = client.get(
        "/api/v1/public/availability",
        query_string={"service_id": str(cut.id), "from": "2027-03-13", "to": "2027-03-15"},
        headers={"X-Tenant": tenant.slug},
    )
    assert [s["starts_at"] for s in response.get_json()["slots"]] == [
        "2027-03-13T09:00:00+00:00",
        "2027-03-15T09:00:00+01:00",
    ]


def test_a_staff_filter_narrows_the_slots(client, tenant, salon):
    cut, _, omar = salon
    response = client.get(
        "/api/v1/public/availability", query_string=query(cut, staff_id=str(omar.id)),
        headers={"X-Tenant": tenant.slug},
    )  # fmt: skip
    assert [(s["starts_at"][11:16], s["staff_ids"]) for s in response.get_json()["slots"]] == [
        ("09:30", [str(omar.id)]),
        ("10:00", [str(omar.id)]),
    ]


BAD_QUERIES = [
    ({"to": "2027-03-14"}, "to"),  # before `from`
    ({"to": "2027-05-16"}, "to"),  # 63 days
    ({"from": "2027-02-30"}, "from"),
    ({"from": "15/03/2027"}, "from"),
    ({"to": ""}, "to"),
    ({"service_id": "not-a-uuid"}, "service_id"),
    ({"staff_id": "42"}, "staff_id"),
]


def test_bad_queries_answer_422_naming_the_field(client, tenant, salon):
    for params, field in BAD_QUERIES:
        for path, headers in [
            ("/api/v1/availability", tenant.headers()),
            ("/api/v1/public/availability", {"X-Tenant": tenant.slug}),
        ]:
            response = client.get(path, query_string=query(salon[0], **params), headers=headers)
            assert response.status_code == 422, (params, response.get_json())
            body = response.get_json()
            assert body["code"] == "validation_error"
            assert field in body["errors"], (params, body)


def test_missing_arguments_answer_422(client, tenant, salon):
    response = client.get(
        "/api/v1/public/availability", query_string={"service_id": str(salon[0].id)},
        headers={"X-Tenant": tenant.slug},
    )  # fmt: skip
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"from", "to"}


def test_a_62_day_range_is_allowed(client, tenant, salon):
    response = client.get(
        "/api/v1/public/availability",
        query_string=query(salon[0], to="2027-05-15"),
        headers={"X-Tenant": tenant.slug},
    )
    assert response.status_code == 200
    assert len(response.get_json()["slots"]) > 3


def test_the_public_learns_nothing_about_inactive_services_and_staff(client, tenant, salon):
    cut = salon[0]
    retired = make_service(is_active=False)
    away = make_staff(services=[cut], hours={1: [("09:00", "12:00")]}, is_active=False)
    headers = {"X-Tenant": tenant.slug}
    for params in [
        query(retired),
        {**query(cut), "service_id": str(uuid.uuid4())},
        query(cut, staff_id=str(away.id)),
        query(cut, staff_id=str(uuid.uuid4())),
    ]:
        response = client.get("/api/v1/public/availability", query_string=params, headers=headers)
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"
    listed = client.get("/api/v1/public/availability", query_string=query(cut), headers=headers)
    assert str(away.id) not in listed.get_data(as_text=True)


def test_members_only_with_a_token_of_this_tenant(client, tenant, other_tenant, salon):
    cut = salon[0]
    missing = client.get(
        "/api/v1/availability", query_string=query(cut), headers={"X-Tenant": tenant.slug}
    )
    assert missing.status_code == 401
    stranger = client.get(
        "/api/v1/availability", query_string=query(cut),
        headers={**other_tenant.headers(), "X-Tenant": tenant.slug},
    )  # fmt: skip
    assert stranger.status_code == 403
    no_tenant = client.get("/api/v1/public/availability", query_string=query(cut))
    assert no_tenant.status_code == 400
    assert no_tenant.get_json()["code"] == "tenant_required"


def test_both_endpoints_are_documented_under_availability(client):
    spec = client.get("/api/openapi.json").get_json()
    member = spec["paths"]["/api/v1/availability"]["get"]
    public = spec["paths"]["/api/v1/public/availability"]["get"]
    assert member["tags"] == public["tags"] == ["Availability"]
    assert public["security"] == []
    assert member["security"] == [{"bearerAuth": []}]
    assert {"from", "to", "service_id", "staff_id"} <= {p.get("name") for p in member["parameters"]}
    assert {"200", "404", "422"} <= set(public["responses"])


def test_dates_at_the_ends_of_the_calendar_answer_without_slots(client, tenant, salon):
    for first, last in [("0001-01-01", "0001-01-07"), ("9999-12-25", "9999-12-31")]:
        response = client.get(
            "/api/v1/public/availability",
            query_string=query(salon[0], **{"from": first, "to": last}),
            headers={"X-Tenant": tenant.slug},
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["slots"] == []
