"""API.md "Tenants and members"."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import RFC3339, assert_problem, is_uuid, pagination
from tests.conftest import add_member, make_tenant, make_user

API = "/api/v1"
TENANT_FIELDS = {"id", "slug", "name", "timezone", "currency", "locale", "status", "created_at"}


def test_create_tenant_is_201_with_the_defaults_and_the_caller_becomes_owner(client, db):
    user = make_user()
    from tests.conftest import access_token

    headers = {"Authorization": f"Bearer {access_token(user)}"}
    response = client.post(
        API + "/tenants", json={"slug": "salon-amal", "name": "Amal"}, headers=headers
    )
    assert response.status_code == 201
    tenant = response.get_json()
    assert set(tenant) >= TENANT_FIELDS
    assert is_uuid(tenant["id"])
    assert tenant["slug"] == "salon-amal"
    assert tenant["name"] == "Amal"
    assert tenant["timezone"] == "Africa/Casablanca"
    assert tenant["currency"] == "MAD"
    assert tenant["locale"] == "fr"
    assert tenant["status"] == "active"
    assert RFC3339.match(tenant["created_at"])
    me = client.get(API + "/me", headers=headers).get_json()
    assert [m["role"] for m in me["memberships"]] == ["owner"]
    members = client.get(API + "/members", headers={**headers, "X-Tenant": "salon-amal"})
    assert [m["user_id"] for m in members.get_json()] == [str(user.id)]


def test_create_tenant_takes_timezone_currency_and_locale(client, tenant):
    response = client.post(
        API + "/tenants",
        json={
            "slug": "salon-paris",
            "name": "P",
            "timezone": "Europe/Paris",
            "currency": "EUR",
            "locale": "en",
        },
        headers=tenant.owner.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["timezone"], body["currency"], body["locale"]) == ("Europe/Paris", "EUR", "en")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("currency", "XXQ"),
        ("locale", "de"),
        ("status", "active"),
        ("id", "00000000-0000-0000-0000-000000000001"),
        ("created_at", "2027-01-01T00:00:00Z"),
    ],
)
def test_create_tenant_refuses_bad_or_server_owned_fields(client, tenant, field, value):
    response = client.post(
        API + "/tenants",
        json={"slug": "salon-x", "name": "X", field: value},
        headers=tenant.owner.headers,
    )
    assert field in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize("slug", ["salon-x\n", "salon-x\n\n", "\nsalon-x"])
def test_a_slug_with_a_newline_is_422_not_a_500(client, tenant, slug):
    response = client.post(
        API + "/tenants", json={"slug": slug, "name": "X"}, headers=tenant.owner.headers
    )
    assert "slug" in assert_problem(response, 422, "validation_error")["errors"]


def test_get_tenants_lists_the_callers_tenants_only(client, tenant, other_tenant):
    response = client.get(API + "/tenants", headers=tenant.owner.headers)
    assert [t["slug"] for t in response.get_json()] == [tenant.slug]
    assert pagination(response)["total"] == 1


def test_get_tenant_by_slug_with_booking_rules(client, tenant):
    response = client.get(f"{API}/tenants/{tenant.slug}", headers=tenant.owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= TENANT_FIELDS
    assert body["settings"]["cancellation_cutoff_hours"] == 24


def test_members_read_the_tenant_but_only_owners_patch_it(client, tenant):
    manager = add_member(tenant, "manager")
    assert client.get(f"{API}/tenants/{tenant.slug}", headers=manager.headers).status_code == 200
    response = client.patch(
        f"{API}/tenants/{tenant.slug}", json={"name": "New"}, headers=manager.headers
    )
    assert_problem(response, 403, "forbidden")
    response = client.patch(
        f"{API}/tenants/{tenant.slug}",
        json={"name": "New", "settings": {"cancellation_cutoff_hours": 2}},
        headers=tenant.owner.headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "New"
    assert body["settings"]["cancellation_cutoff_hours"] == 2


def test_status_is_not_writable_through_patch(client, tenant):
    response = client.patch(
        f"{API}/tenants/{tenant.slug}", json={"status": "suspended"}, headers=tenant.owner.headers
    )
    assert "status" in assert_problem(response, 422, "validation_error")["errors"]
    body = client.get(f"{API}/tenants/{tenant.slug}", headers=tenant.owner.headers).get_json()
    assert body["status"] == "active"


def test_domains_can_be_listed_added_and_removed(client, tenant):
    path = f"{API}/tenants/{tenant.slug}/domains"
    headers = tenant.owner.headers
    created = client.post(path, json={"domain": "rdv.amal.example"}, headers=headers)
    assert created.status_code == 201
    domain = created.get_json()
    assert is_uuid(domain["id"]) and domain["domain"] == "rdv.amal.example"
    listed = client.get(path, headers=headers)
    assert [d["id"] for d in listed.get_json()] == [domain["id"]]
    assert pagination(listed)["total"] == 1
    assert client.delete(f"{path}/{domain['id']}", headers=headers).status_code == 204
    assert client.get(path, headers=headers).get_json() == []
    assert_problem(client.delete(f"{path}/{domain['id']}", headers=headers), 404, "not_found")


def test_a_domain_already_registered_is_409(client, tenant, other_tenant):
    client.post(
        f"{API}/tenants/{tenant.slug}/domains",
        json={"domain": "taken.example"},
        headers=tenant.owner.headers,
    )
    response = client.post(
        f"{API}/tenants/{other_tenant.slug}/domains",
        json={"domain": "taken.example"},
        headers=other_tenant.owner.headers,
    )
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


# --- members --------------------------------------------------------------------------------------

MEMBER_FIELDS = {"user_id", "email", "full_name", "role", "created_at"}


def test_members_read_as_user_id_email_full_name_role_created_at(client, tenant):
    response = client.get(API + "/members", headers=tenant.headers())
    assert response.status_code == 200
    [member] = response.get_json()
    assert set(member) == MEMBER_FIELDS
    assert member["user_id"] == str(tenant.owner.user_id)
    assert member["role"] == "owner"
    assert member["created_at"].endswith("+01:00")


def test_members_are_added_changed_and_removed_by_email_and_role(client, tenant):
    user = make_user(full_name="Leila")
    headers = tenant.headers()
    created = client.post(
        API + "/members", json={"email": user.email, "role": "staff"}, headers=headers
    )
    assert created.status_code == 201
    member = created.get_json()
    assert set(member) == MEMBER_FIELDS
    assert (member["user_id"], member["email"], member["full_name"], member["role"]) == (
        str(user.id),
        user.email,
        "Leila",
        "staff",
    )
    changed = client.patch(f"{API}/members/{user.id}", json={"role": "manager"}, headers=headers)
    assert changed.status_code == 200
    assert changed.get_json()["role"] == "manager"
    assert client.delete(f"{API}/members/{user.id}", headers=headers).status_code == 204
    assert_problem(client.delete(f"{API}/members/{user.id}", headers=headers), 404, "not_found")


def test_an_unknown_role_is_422(client, tenant):
    user = make_user()
    response = client.post(
        API + "/members", json={"email": user.email, "role": "admin"}, headers=tenant.headers()
    )
    assert "role" in assert_problem(response, 422, "validation_error")["errors"]


def test_members_of_another_tenant_are_not_reachable(client, tenant):
    other = make_tenant()
    response = client.patch(
        f"{API}/members/{other.owner.user_id}", json={"role": "staff"}, headers=tenant.headers()
    )
    assert_problem(response, 404, "not_found")


def test_patching_an_unknown_member_is_404_whatever_the_body(client, tenant):
    response = client.patch(
        f"{API}/members/00000000-0000-0000-0000-000000000000",
        json={"role": "nonsense", "extra": 1},
        headers=tenant.headers(),
    )
    assert_problem(response, 404, "not_found")
