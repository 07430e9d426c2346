"""Services: every field of API.md, validation, ordering, filters, roles and deletion rules."""

import json
import uuid

import pytest
import sqlalchemy as sa

from bookme.core import errors
from bookme.core.db import session
from tests.conftest import make_tenant
from tests.factories import make_category, make_service, use_tenant

URL = "/api/v1/services"
MINIMAL = {"name": "Coupe homme", "duration_minutes": 30, "price": "80"}


def test_a_service_is_created_with_the_documented_defaults(client, tenant):
    response = client.post(URL, json=MINIMAL, headers=tenant.headers())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["price"] == "80.00"
    assert body["currency"] == "MAD"
    assert {k: body[k] for k in (
        "buffer_before_minutes", "buffer_after_minutes", "slot_interval_minutes",
        "min_notice_minutes", "max_advance_days", "is_active", "metadata",
        "description", "category_id",
    )} == {
        "buffer_before_minutes": 0, "buffer_after_minutes": 0, "slot_interval_minutes": 15,
        "min_notice_minutes": 60, "max_advance_days": 60, "is_active": True, "metadata": {},
        "description": None, "category_id": None,
    }  # fmt: skip
    fetched = client.get(f"{URL}/{body['id']}", headers=tenant.headers()).get_json()
    assert fetched == body


def test_every_field_is_stored_as_given(client, tenant):
    use_tenant(tenant)
    category = make_category(name="Soins")
    body = {
        "name": "Hammam gommage",
        "description": "Savon noir et kessa.",
        "category_id": str(category.id),
        "duration_minutes": 90,
        "price": "250.50",
        "currency": "EUR",
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 240,
        "slot_interval_minutes": 30,
        "min_notice_minutes": 0,
        "max_advance_days": 730,
        "is_active": False,
        "metadata": {"color": "#aa3300", "tags": ["spa", 1, None, {"deep": True}]},
    }
    response = client.post(URL, json=body, headers=tenant.headers())
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert {k: created[k] for k in body} == body


def test_the_default_currency_is_the_tenants(client, db):
    euro = make_tenant(currency="EUR", timezone="Europe/Paris")
    response = client.post(URL, json=MINIMAL, headers=euro.headers())
    assert response.status_code == 201
    assert response.get_json()["currency"] == "EUR"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_minutes", 4),
        ("duration_minutes", 721),
        ("duration_minutes", "30"),
        ("duration_minutes", 30.5),
        ("duration_minutes", None),
        ("buffer_before_minutes", -1),
        ("buffer_before_minutes", 241),
        ("buffer_after_minutes", 241),
        ("slot_interval_minutes", 4),
        ("slot_interval_minutes", 721),
        ("min_notice_minutes", -1),
        ("min_notice_minutes", 10**12),
        ("max_advance_days", 0),
        ("max_advance_days", 731),
        ("price", "-1"),
        ("price", "1.234"),
        ("price", "abc"),
        ("price", "NaN"),
        ("price", "Infinity"),
        ("price", True),
        ("price", 150),  # money is a decimal string (API.md), not a JSON number
        ("price", 150.5),
        ("price", "100000000.00"),
        ("currency", "mad"),
        ("currency", "XYZ"),
        ("currency", "EURO"),
        ("name", ""),
        ("name", "x" * 201),
        ("description", "x" * 5001),
        ("category_id", "not-a-uuid"),
        ("is_active", "maybe"),
        ("is_active", "yes"),  # JSON true or false only
        ("is_active", 1),
        ("is_active", "true"),
        ("metadata", ["not", "an", "object"]),
        ("metadata", "text"),
        ("metadata", {"big": "x" * 9000}),
        ("metadata", {"k\x00ey": 1}),
        ("metadata", {"v": "a\x00b"}),
        ("metadata", {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {}}}}}}}}}}}),
        ("id", str(uuid.uuid4())),
        ("created_at", "2027-01-01T00:00:00+00:00"),
        ("staff_ids", []),
    ],
)
def test_invalid_service_fields_are_refused(client, tenant, field, value):
    response = client.post(URL, json={**MINIMAL, field: value}, headers=tenant.headers())
    assert response.status_code == 422, (field, value, response.get_json())
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert field in {key.split(".")[0] for key in problem["errors"]}, problem


def test_required_service_fields_are_named(client, tenant):
    response = client.post(URL, json={}, headers=tenant.headers())
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"name", "duration_minutes", "price"}


def test_non_finite_numbers_in_metadata_are_refused(client, tenant):
    raw = '{"name": "Coupe", "duration_minutes": 30, "price": "80", "metadata": {"x": NaN}}'
    response = client.post(URL, data=raw, content_type="application/json", headers=tenant.headers())
    assert response.status_code in (400, 422)
    assert response.get_json()["code"] in ("invalid_json", "validation_error")


def test_an_unknown_category_is_a_validation_error(client, tenant):
    response = client.post(
        URL, json={**MINIMAL, "category_id": str(uuid.uuid4())}, headers=tenant.headers()
    )
    assert response.status_code == 422
    assert "category_id" in response.get_json()["errors"]


def test_service_names_are_unique_within_a_category(client, tenant):
    use_tenant(tenant)
    hair, spa = make_category(name="Coiffure"), make_category(name="Spa")
    make_service(name="Soin", category=hair)
    make_service(name="Solo")
    clash = client.post(
        URL, json={**MINIMAL, "name": "SOIN", "category_id": str(hair.id)}, headers=tenant.headers()
    )
    assert clash.status_code == 409
    assert clash.get_json()["code"] == "conflict"
    uncategorised = client.post(URL, json={**MINIMAL, "name": "solo"}, headers=tenant.headers())
    assert uncategorised.status_code == 409
    elsewhere = client.post(
        URL, json={**MINIMAL, "name": "Soin", "category_id": str(spa.id)}, headers=tenant.headers()
    )
    assert elsewhere.status_code == 201


def test_services_are_ordered_by_category_position_then_name(client, tenant):
    use_tenant(tenant)
    first = make_category(name="Coiffure", position=1)
    second = make_category(name="Barbe", position=2)
    make_service(name="Zzz sans catégorie")
    make_service(name="Taille", category=second)
    make_service(name="Brushing", category=first)
    make_service(name="Abonnement")
    make_service(name="Coupe", category=first)
    response = client.get(URL, headers=tenant.headers())
    assert response.status_code == 200
    assert [s["name"] for s in response.get_json()] == [
        "Brushing", "Coupe", "Taille", "Abonnement", "Zzz sans catégorie",
    ]  # fmt: skip


def test_services_are_filtered_by_activity_and_category(client, tenant):
    use_tenant(tenant)
    hair = make_category(name="Coiffure")
    make_service(name="Coupe", category=hair)
    make_service(name="Ancien", category=hair, is_active=False)
    make_service(name="Manucure")

    def names(query):
        response = client.get(f"{URL}?{query}", headers=tenant.headers())
        assert response.status_code == 200, response.get_json()
        return sorted(s["name"] for s in response.get_json())

    assert names("is_active=true") == ["Coupe", "Manucure"]
    assert names("is_active=false") == ["Ancien"]
    assert names(f"category_id={hair.id}") == ["Ancien", "Coupe"]
    assert names(f"category_id={hair.id}&is_active=true") == ["Coupe"]
    assert client.get(f"{URL}?category_id=nope", headers=tenant.headers()).status_code == 422
    assert client.get(f"{URL}?is_active=perhaps", headers=tenant.headers()).status_code == 422


def test_the_service_list_is_paginated(client, tenant):
    use_tenant(tenant)
    for i in range(5):
        make_service(name=f"S{i}")
    response = client.get(f"{URL}?page=2&page_size=2", headers=tenant.headers())
    assert [s["name"] for s in response.get_json()] == ["S2", "S3"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_a_service_is_updated_field_by_field_and_deactivated(client, tenant, manager):
    use_tenant(tenant)
    category = make_category()
    service = make_service(name="Coupe", price="80.00", category=category, description="Avant")
    response = client.patch(
        f"{URL}/{service.id}",
        json={"price": "95.5", "description": None, "category_id": None, "is_active": False},
        headers=tenant.headers(manager),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["price"] == "95.50"
    assert body["description"] is None
    assert body["category_id"] is None
    assert body["is_active"] is False
    assert body["name"] == "Coupe"
    assert body["duration_minutes"] == service.duration_minutes


@pytest.mark.parametrize(
    "body",
    [{"duration_minutes": 1000}, {"name": None}, {"price": None}, {"id": str(uuid.uuid4())}],
)
def test_invalid_service_updates_are_refused(client, tenant, body):
    use_tenant(tenant)
    service = make_service()
    response = client.patch(f"{URL}/{service.id}", json=body, headers=tenant.headers())
    assert response.status_code == 422


def test_staff_read_services_but_cannot_write_them_whatever_the_body(client, tenant, staff_member):
    use_tenant(tenant)
    service = make_service()
    headers = tenant.headers(staff_member)
    assert client.get(URL, headers=headers).status_code == 200
    assert client.get(f"{URL}/{service.id}", headers=headers).status_code == 200
    assert client.post(URL, json={"bogus": 1}, headers=headers).status_code == 403
    assert (
        client.patch(f"{URL}/{service.id}", json={"bogus": 1}, headers=headers).status_code == 403
    )
    assert client.delete(f"{URL}/{service.id}", headers=headers).status_code == 403


def test_a_service_without_bookings_is_deleted(client, tenant, subscribe):
    use_tenant(tenant)
    service = make_service()
    seen = []
    subscribe("service_deleting", lambda **payload: seen.append(payload))
    assert client.delete(f"{URL}/{service.id}", headers=tenant.headers()).status_code == 204
    assert [p["service_id"] for p in seen] == [service.id]
    assert seen[0]["tenant"].slug == tenant.slug
    assert seen[0]["now"].tzinfo is not None
    assert client.get(f"{URL}/{service.id}", headers=tenant.headers()).status_code == 404


def test_a_service_with_future_bookings_cannot_be_deleted_but_can_be_deactivated(
    client, tenant, subscribe
):
    use_tenant(tenant)
    service = make_service()

    def has_future_bookings(*, tenant, service_id, now):
        raise errors.Conflict("Future bookings depend on this service; deactivate it instead.")

    subscribe("service_deleting", has_future_bookings)
    response = client.delete(f"{URL}/{service.id}", headers=tenant.headers())
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    assert client.get(f"{URL}/{service.id}", headers=tenant.headers()).status_code == 200
    deactivated = client.patch(
        f"{URL}/{service.id}", json={"is_active": False}, headers=tenant.headers()
    )
    assert deactivated.status_code == 200


def test_a_service_still_referenced_by_a_row_of_another_table_is_kept_out_of_sight(client, tenant):
    use_tenant(tenant)
    service = make_service()
    session().execute(sa.text("CREATE TABLE refs (service_id uuid REFERENCES services (id))"))
    session().execute(sa.text("INSERT INTO refs VALUES (:id)"), {"id": service.id})
    session().commit()
    response = client.delete(f"{URL}/{service.id}", headers=tenant.headers())
    assert response.status_code == 204
    assert client.get(f"{URL}/{service.id}", headers=tenant.headers()).status_code == 404
    assert client.get(URL, headers=tenant.headers()).get_json() == []
    row = (
        session()
        .execute(
            sa.text("SELECT is_active, deleted_at IS NOT NULL FROM services WHERE id = :id"),
            {"id": service.id},
        )
        .one()
    )
    assert tuple(row) == (False, True)


def test_another_tenants_service_is_invisible(client, tenant, other_tenant):
    use_tenant(other_tenant)
    theirs = make_service().id
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(
            f"{URL}/{theirs}", json={"is_active": False}, headers=tenant.headers()
        )
        assert response.status_code == 404, method
    assert client.get(URL, headers=tenant.headers()).get_json() == []
