"""GET /me: the signed-in user and each business they belong to."""

from __future__ import annotations

from tests.conftest import add_member, make_tenant
from tests.users.conftest import bearer


def test_me_lists_every_membership_with_its_tenant(client, db):
    first = make_tenant(name="Salon Atlas")
    second = make_tenant(name="Barber Rif")
    staff = add_member(second, "staff")
    db.session.commit()
    from bookme.core.db import session
    from bookme.users.models import Membership

    session().add(Membership(tenant_id=first.id, user_id=staff.user_id, role="manager"))
    session().commit()
    response = client.get("/api/v1/me", headers=bearer(staff.token))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "email", "full_name", "email_verified", "created_at", "memberships"}
    assert body["id"] == str(staff.user_id)
    assert body["email"] == staff.email
    assert body["email_verified"] is True
    assert body["memberships"] == [
        {
            "tenant": {
                "id": str(second.id),
                "slug": second.slug,
                "name": "Barber Rif",
                "status": "active",
            },
            "role": "staff",
        },
        {
            "tenant": {
                "id": str(first.id),
                "slug": first.slug,
                "name": "Salon Atlas",
                "status": "active",
            },
            "role": "manager",
        },
    ]


def test_me_without_memberships_is_an_empty_list(client, db):
    from tests.users.conftest import login, make_user

    make_user(email="alone@example.com")
    tokens = login(client, "alone@example.com").get_json()
    body = client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()
    assert body["memberships"] == []


def test_me_needs_a_token(client, db):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_me_refuses_other_methods_with_allow(client, db):
    response = client.post("/api/v1/me")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
