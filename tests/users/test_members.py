"""Members of a tenant: owner-only management, the last-owner rule, isolation between tenants."""

from __future__ import annotations

import json
import uuid

import pytest

from bookme.core import clock
from bookme.tenants.service import set_status
from tests.conftest import add_member
from tests.users.conftest import bearer, login, make_user

MEMBER_FIELDS = {"user_id", "email", "full_name", "role", "created_at"}


@pytest.fixture
def staff_and_manager(tenant, db):
    manager = add_member(tenant, "manager")
    staff = add_member(tenant, "staff")
    db.session.commit()
    return manager, staff


def _get(client, tenant, who=None, path="/api/v1/members", **kwargs):
    return client.get(path, headers=tenant.headers(who), **kwargs)


def test_the_owner_lists_the_members(client, tenant, staff_and_manager):
    manager, _ = staff_and_manager
    response = _get(client, tenant)
    assert response.status_code == 200
    members = response.get_json()
    assert [m["role"] for m in members] == ["owner", "manager", "staff"]
    assert all(set(m) == MEMBER_FIELDS for m in members)
    by_id = {m["user_id"]: m for m in members}
    assert by_id[str(manager.user_id)]["email"] == manager.email
    assert by_id[str(manager.user_id)]["full_name"] == "Manager"
    assert by_id[str(tenant.owner.user_id)]["created_at"][-6:] in {"+00:00", "+01:00"}
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 3
    assert pagination["page"] == 1


def test_the_member_list_is_paginated(client, tenant, staff_and_manager):
    response = _get(client, tenant, query_string={"page": 2, "page_size": 2})
    assert response.status_code == 200
    assert [m["role"] for m in response.get_json()] == ["staff"]
    assert json.loads(response.headers["X-Pagination"])["total_pages"] == 2
    too_big = _get(client, tenant, query_string={"page_size": 101})
    assert too_big.status_code == 422
    assert too_big.get_json()["code"] == "validation_error"


def test_the_owner_adds_an_existing_account(client, tenant, db):
    newcomer = make_user(email="newcomer@example.com", full_name="New Comer")
    response = client.post(
        "/api/v1/members",
        json={"email": " NewComer@example.com", "role": "staff"},
        headers=tenant.headers(),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == MEMBER_FIELDS
    assert body["user_id"] == str(newcomer.id)
    assert (body["email"], body["full_name"], body["role"]) == (
        "newcomer@example.com",
        "New Comer",
        "staff",
    )
    # The newcomer now reaches the tenant with their own token.
    tokens = login(client, "newcomer@example.com").get_json()
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()
    assert me["memberships"] == [
        {
            "tenant": {
                "id": str(tenant.id),
                "slug": tenant.slug,
                "name": "Salon Test",
                "status": "active",
            },
            "role": "staff",
        }
    ]
    staff_headers = {**bearer(tokens["access_token"]), "X-Tenant": tenant.slug}
    assert client.get("/api/v1/members", headers=staff_headers).status_code == 403


def test_adding_an_email_without_an_account_is_a_validation_error(client, tenant):
    response = client.post(
        "/api/v1/members",
        json={"email": "stranger@example.com", "role": "staff"},
        headers=tenant.headers(),
    )
    assert response.status_code == 422
    assert "register first" in response.get_json()["errors"]["email"][0]


def test_adding_someone_twice_is_a_conflict(client, tenant, staff_and_manager):
    manager, _ = staff_and_manager
    response = client.post(
        "/api/v1/members", json={"email": manager.email, "role": "staff"}, headers=tenant.headers()
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "role": "admin"},
        {"email": "a@example.com"},
        {"role": "staff"},
        {"email": "a@example.com", "role": "staff", "user_id": str(uuid.uuid4())},
    ],
)
def test_a_bad_member_body_is_a_validation_error(client, tenant, body):
    response = client.post("/api/v1/members", json=body, headers=tenant.headers())
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_the_owner_changes_a_role(client, tenant, staff_and_manager):
    manager, _ = staff_and_manager
    response = client.patch(
        f"/api/v1/members/{manager.user_id}", json={"role": "staff"}, headers=tenant.headers()
    )
    assert response.status_code == 200
    assert response.get_json()["role"] == "staff"
    manager_headers = tenant.headers(manager)
    assert client.post("/api/v1/members", json={}, headers=manager_headers).status_code == 403


def test_the_last_owner_cannot_be_demoted(client, tenant):
    response = client.patch(
        f"/api/v1/members/{tenant.owner.user_id}",
        json={"role": "manager"},
        headers=tenant.headers(),
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    assert "at least one owner" in response.get_json()["detail"]


def test_an_owner_can_step_down_when_another_owner_remains(client, tenant, db):
    second = add_member(tenant, "owner")
    db.session.commit()
    response = client.patch(
        f"/api/v1/members/{tenant.owner.user_id}",
        json={"role": "manager"},
        headers=tenant.headers(),
    )
    assert response.status_code == 200
    # Now `second` is the last owner.
    last = client.patch(
        f"/api/v1/members/{second.user_id}", json={"role": "staff"}, headers=tenant.headers(second)
    )
    assert last.status_code == 409


def test_the_owner_removes_a_member_who_then_loses_access(client, tenant, staff_and_manager):
    manager, _ = staff_and_manager
    response = client.delete(f"/api/v1/members/{manager.user_id}", headers=tenant.headers())
    assert response.status_code == 204
    assert _get(client, tenant, manager, path="/api/v1/members").status_code == 403
    again = client.delete(f"/api/v1/members/{manager.user_id}", headers=tenant.headers())
    assert again.status_code == 404
    assert again.get_json()["code"] == "not_found"


def test_the_last_owner_cannot_be_removed(client, tenant):
    response = client.delete(f"/api/v1/members/{tenant.owner.user_id}", headers=tenant.headers())
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_an_owner_may_leave_when_another_owner_remains(client, tenant, db):
    add_member(tenant, "owner")
    db.session.commit()
    response = client.delete(f"/api/v1/members/{tenant.owner.user_id}", headers=tenant.headers())
    assert response.status_code == 204
    assert _get(client, tenant).status_code == 403


def test_changing_or_removing_someone_who_is_not_a_member_is_not_found(client, tenant, db):
    outsider = make_user()
    for user_id in (outsider.id, uuid.uuid4()):
        patch = client.patch(
            f"/api/v1/members/{user_id}", json={"role": "staff"}, headers=tenant.headers()
        )
        delete = client.delete(f"/api/v1/members/{user_id}", headers=tenant.headers())
        assert (patch.status_code, delete.status_code) == (404, 404)
    assert client.delete("/api/v1/members/not-a-uuid", headers=tenant.headers()).status_code == 404


ROUTES = [
    ("get", "/api/v1/members", None),
    ("post", "/api/v1/members", {"email": "x@example.com", "role": "staff"}),
    ("patch", "/api/v1/members/{user}", {"role": "staff"}),
    ("delete", "/api/v1/members/{user}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("role", ["manager", "staff"])
def test_managers_and_staff_may_not_manage_members(
    client, tenant, staff_and_manager, method, path, body, role
):
    manager, staff = staff_and_manager
    who = manager if role == "manager" else staff
    url = path.format(user=staff.user_id)
    response = getattr(client, method)(url, json=body, headers=tenant.headers(who))
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_access_is_checked_before_the_body(client, tenant, staff_and_manager, method, path, body):
    _, staff = staff_and_manager
    url = path.format(user=staff.user_id)
    kwargs = {"data": "{broken", "content_type": "application/json"} if body is not None else {}
    response = getattr(client, method)(url, headers=tenant.headers(staff), **kwargs)
    assert response.status_code == 403
    anonymous = getattr(client, method)(url, headers={"X-Tenant": tenant.slug}, **kwargs)
    assert anonymous.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_an_owner_of_another_tenant_is_forbidden(
    client, tenant, other_tenant, staff_and_manager, method, path, body
):
    _, staff = staff_and_manager
    url = path.format(user=staff.user_id)
    response = getattr(client, method)(
        url, json=body, headers={**other_tenant.owner.headers, "X-Tenant": tenant.slug}
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


def test_an_owner_cannot_touch_members_of_another_tenant_through_their_own(
    client, tenant, other_tenant, staff_and_manager
):
    _, staff = staff_and_manager
    listed = client.get("/api/v1/members", headers=other_tenant.headers()).get_json()
    assert [m["user_id"] for m in listed] == [str(other_tenant.owner.user_id)]
    for method in ("patch", "delete"):
        response = getattr(client, method)(
            f"/api/v1/members/{staff.user_id}",
            json={"role": "owner"} if method == "patch" else None,
            headers=other_tenant.headers(),
        )
        assert response.status_code == 404


def test_members_need_a_tenant(client, tenant):
    response = client.get("/api/v1/members", headers=tenant.owner.headers)
    assert response.status_code == 400
    assert response.get_json()["code"] == "tenant_required"
    unknown = client.get(
        "/api/v1/members", headers={**tenant.owner.headers, "X-Tenant": "no-such-tenant"}
    )
    assert unknown.status_code == 404
    assert unknown.get_json()["code"] == "tenant_not_found"


def test_a_suspended_tenant_refuses_member_management(client, tenant):
    set_status(slug=tenant.slug, status="suspended", now=clock.now())
    response = _get(client, tenant)
    assert response.status_code == 403
    assert response.get_json()["code"] == "tenant_suspended"
