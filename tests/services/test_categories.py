"""Service categories: CRUD, validation, ordering and who may write them."""

import json

import pytest

from tests.factories import make_category, make_service, use_tenant

URL = "/api/v1/service-categories"


def test_owner_creates_a_category_with_a_default_position(client, tenant):
    response = client.post(URL, json={"name": "Coiffure"}, headers=tenant.headers())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Coiffure"
    assert body["position"] == 0
    assert set(body) == {"id", "name", "position", "created_at", "updated_at"}
    assert body["created_at"].endswith(("+01:00", "+00:00"))


def test_manager_creates_and_staff_reads_but_cannot_write(client, tenant, manager, staff_member):
    created = client.post(
        URL, json={"name": "Soins", "position": 2}, headers=tenant.headers(manager)
    )
    assert created.status_code == 201
    category_id = created.get_json()["id"]

    listed = client.get(URL, headers=tenant.headers(staff_member))
    assert listed.status_code == 200
    assert [c["name"] for c in listed.get_json()] == ["Soins"]
    assert (
        client.get(f"{URL}/{category_id}", headers=tenant.headers(staff_member)).status_code == 200
    )

    for method, url in (
        ("post", URL),
        ("patch", f"{URL}/{category_id}"),
        ("delete", f"{URL}/{category_id}"),
    ):
        response = getattr(client, method)(
            url, json={"name": "x", "bogus": True}, headers=tenant.headers(staff_member)
        )
        assert response.status_code == 403, (method, url)
        assert response.get_json()["code"] == "forbidden"


def test_without_a_token_categories_are_refused(client, tenant):
    response = client.get(URL, headers={"X-Tenant": tenant.slug})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_category_names_are_unique_case_insensitively(client, tenant):
    assert client.post(URL, json={"name": "Barbier"}, headers=tenant.headers()).status_code == 201
    response = client.post(URL, json={"name": "BARBIER"}, headers=tenant.headers())
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_renaming_a_category_to_a_taken_name_conflicts(client, tenant):
    use_tenant(tenant)
    make_category(name="Coiffure")
    other = make_category(name="Soins")
    response = client.patch(
        f"{URL}/{other.id}", json={"name": "coiffure"}, headers=tenant.headers()
    )
    assert response.status_code == 409
    same = client.patch(
        f"{URL}/{other.id}", json={"name": "SOINS", "position": 3}, headers=tenant.headers()
    )
    assert same.status_code == 200
    assert same.get_json()["name"] == "SOINS"
    assert same.get_json()["position"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 121},
        {"name": "Soins", "position": -1},
        {"name": "Soins", "position": "1"},
        {"name": "Soins", "position": 1.5},
        {"name": "So\x00ins"},
        {"name": "Soins", "id": "3f2b8a4e-0000-4000-8000-000000000000"},
        {"name": "Soins", "created_at": "2027-01-01T00:00:00Z"},
    ],
)
def test_invalid_category_bodies_are_refused(client, tenant, body):
    response = client.post(URL, json=body, headers=tenant.headers())
    assert response.status_code == 422, body
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert problem["errors"]


def test_a_body_that_is_not_an_object_is_refused(client, tenant):
    response = client.post(
        URL, data=json.dumps(["Soins"]), content_type="application/json", headers=tenant.headers()
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"


def test_categories_are_listed_by_position_then_name_and_paginated(client, tenant):
    use_tenant(tenant)
    make_category(name="Zen", position=1)
    make_category(name="Beauté", position=2)
    make_category(name="Alpha", position=1)
    response = client.get(f"{URL}?page=1&page_size=2", headers=tenant.headers())
    assert response.status_code == 200
    assert [c["name"] for c in response.get_json()] == ["Alpha", "Zen"]
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 3
    assert pagination["total_pages"] == 2
    second = client.get(f"{URL}?page=2&page_size=2", headers=tenant.headers())
    assert [c["name"] for c in second.get_json()] == ["Beauté"]
    too_big = client.get(f"{URL}?page_size=101", headers=tenant.headers())
    assert too_big.status_code == 422


def test_an_empty_category_is_deleted(client, tenant):
    use_tenant(tenant)
    category = make_category()
    assert client.delete(f"{URL}/{category.id}", headers=tenant.headers()).status_code == 204
    assert client.get(f"{URL}/{category.id}", headers=tenant.headers()).status_code == 404
    assert client.delete(f"{URL}/{category.id}", headers=tenant.headers()).status_code == 404


def test_a_category_holding_services_cannot_be_deleted(client, tenant):
    use_tenant(tenant)
    category = make_category()
    make_service(category=category)
    response = client.delete(f"{URL}/{category.id}", headers=tenant.headers())
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    assert client.get(f"{URL}/{category.id}", headers=tenant.headers()).status_code == 200


def test_an_unknown_category_is_not_found(client, tenant):
    response = client.get(f"{URL}/6b0e8f44-1c53-4b0f-9a43-5b7c7f0d2a11", headers=tenant.headers())
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    assert client.get(f"{URL}/not-a-uuid", headers=tenant.headers()).status_code == 404


def test_another_tenants_category_is_invisible(client, tenant, other_tenant):
    use_tenant(other_tenant)
    theirs = make_category(name="Theirs").id
    response = client.get(f"{URL}/{theirs}", headers=tenant.headers())
    assert response.status_code == 404
    assert client.get(URL, headers=tenant.headers()).get_json() == []
    # A token of this tenant's owner addressed to the other tenant: not a member there.
    cross = client.get(URL, headers={**tenant.owner.headers, "X-Tenant": other_tenant.slug})
    assert cross.status_code == 403
