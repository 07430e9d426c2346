"""Staff: CRUD, the services they perform, the link to a member's user, roles and deletion."""

import json
import uuid

import pytest

from bookme.core import errors
from tests.conftest import add_member, make_user
from tests.factories import make_service, make_staff, use_tenant

URL = "/api/v1/staff"


def test_a_staff_member_is_created_with_services_and_a_member_user(client, tenant, staff_member):
    use_tenant(tenant)
    cut, beard = make_service(name="Coupe"), make_service(name="Barbe")
    body = {
        "display_name": "Nadia",
        "email": "nadia@example.ma",
        "phone": "+212612345678",
        "user_id": str(staff_member.user_id),
        "service_ids": [str(cut.id), str(beard.id), str(cut.id)],
    }
    response = client.post(URL, json=body, headers=tenant.headers())
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["display_name"] == "Nadia"
    assert created["user_id"] == str(staff_member.user_id)
    assert created["is_active"] is True
    assert sorted(created["service_ids"]) == sorted([str(cut.id), str(beard.id)])
    fetched = client.get(f"{URL}/{created['id']}", headers=tenant.headers()).get_json()
    assert fetched == created


def test_a_minimal_staff_member_needs_only_a_name(client, tenant, manager):
    response = client.post(URL, json={"display_name": "Karim"}, headers=tenant.headers(manager))
    assert response.status_code == 201
    body = response.get_json()
    assert body["service_ids"] == []
    assert body["email"] is None and body["phone"] is None and body["user_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"display_name": ""},
        {"display_name": "x" * 121},
        {"display_name": "Nadia", "email": "not-an-email"},
        {"display_name": "Nadia", "phone": "0612345678"},
        {"display_name": "Nadia", "phone": "+2126123456789999"},
        {"display_name": "Nadia", "user_id": "nope"},
        {"display_name": "Nadia", "service_ids": ["nope"]},
        {"display_name": "Nadia", "service_ids": "x"},
        {"display_name": "Na\x00dia"},
        {"display_name": "Nadia", "is_active": "yes"},
        {"display_name": "Nadia", "is_active": 0},
        {"display_name": "Nadia", "role": "owner"},
        {"display_name": "Nadia", "is_active": "yes please"},
    ],
)
def test_invalid_staff_bodies_are_refused(client, tenant, body):
    response = client.post(URL, json=body, headers=tenant.headers())
    assert response.status_code == 422, body
    assert response.get_json()["code"] == "validation_error"


def test_a_user_who_is_not_a_member_cannot_be_linked(client, tenant, other_tenant):
    stranger = make_user()
    response = client.post(
        URL, json={"display_name": "X", "user_id": str(stranger.id)}, headers=tenant.headers()
    )
    assert response.status_code == 422
    assert "user_id" in response.get_json()["errors"]
    # A member of another business is a stranger here too.
    elsewhere = add_member(other_tenant, "staff")
    response = client.post(
        URL, json={"display_name": "X", "user_id": str(elsewhere.user_id)}, headers=tenant.headers()
    )
    assert response.status_code == 422


def test_a_user_is_linked_to_one_staff_member_at_most(client, tenant, staff_member):
    use_tenant(tenant)
    make_staff(user_id=staff_member.user_id)
    other = make_staff()
    body = {"display_name": "Twice", "user_id": str(staff_member.user_id)}
    assert client.post(URL, json=body, headers=tenant.headers()).status_code == 409
    response = client.patch(
        f"{URL}/{other.id}", json={"user_id": str(staff_member.user_id)}, headers=tenant.headers()
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_unknown_services_are_refused(client, tenant):
    response = client.post(
        URL,
        json={"display_name": "X", "service_ids": [str(uuid.uuid4())]},
        headers=tenant.headers(),
    )
    assert response.status_code == 422
    assert "service_ids" in response.get_json()["errors"]


def test_updating_service_ids_replaces_the_set(client, tenant):
    use_tenant(tenant)
    cut, beard, color = make_service(), make_service(), make_service()
    nadia = make_staff(services=[cut, beard])
    response = client.patch(
        f"{URL}/{nadia.id}",
        json={"service_ids": [str(color.id)], "display_name": "Nadia B.", "phone": None},
        headers=tenant.headers(),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["service_ids"] == [str(color.id)]
    assert response.get_json()["display_name"] == "Nadia B."


def test_staff_are_listed_by_name_and_filtered(client, tenant):
    use_tenant(tenant)
    cut = make_service()
    make_staff(display_name="Youssef", services=[cut])
    make_staff(display_name="Amina", services=[cut], is_active=False)
    make_staff(display_name="Salma")

    def names(query=""):
        response = client.get(f"{URL}?{query}", headers=tenant.headers())
        assert response.status_code == 200
        return [s["display_name"] for s in response.get_json()]

    assert names() == ["Amina", "Salma", "Youssef"]
    assert names("is_active=true") == ["Salma", "Youssef"]
    assert names(f"service_id={cut.id}") == ["Amina", "Youssef"]
    response = client.get(
        f"/api/v1/services/{cut.id}/staff?is_active=true", headers=tenant.headers()
    )
    assert response.status_code == 200
    assert [s["display_name"] for s in response.get_json()] == ["Youssef"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 1


def test_the_staff_of_an_unknown_service_is_not_found(client, tenant):
    response = client.get(f"/api/v1/services/{uuid.uuid4()}/staff", headers=tenant.headers())
    assert response.status_code == 404


def test_staff_read_the_staff_list_but_cannot_change_it(client, tenant, staff_member):
    use_tenant(tenant)
    me = make_staff(user_id=staff_member.user_id)
    headers = tenant.headers(staff_member)
    assert client.get(URL, headers=headers).status_code == 200
    assert client.get(f"{URL}/{me.id}", headers=headers).status_code == 200
    assert client.post(URL, json={"bogus": 1}, headers=headers).status_code == 403
    # Not even their own record: only their schedule is theirs to change.
    assert (
        client.patch(f"{URL}/{me.id}", json={"display_name": "Me"}, headers=headers).status_code
        == 403
    )
    assert client.delete(f"{URL}/{me.id}", headers=headers).status_code == 403


def test_a_staff_member_without_bookings_is_deleted_with_their_schedule(client, tenant, subscribe):
    use_tenant(tenant)
    nadia = make_staff(hours={1: [("09:00", "13:00")]})
    seen = []
    subscribe("staff_deleting", lambda **payload: seen.append(payload["staff_id"]))
    assert client.delete(f"{URL}/{nadia.id}", headers=tenant.headers()).status_code == 204
    assert seen == [nadia.id]
    assert client.get(f"{URL}/{nadia.id}", headers=tenant.headers()).status_code == 404


def test_a_staff_member_with_future_bookings_cannot_be_deleted_but_can_be_deactivated(
    client, tenant, subscribe
):
    use_tenant(tenant)
    nadia = make_staff()

    def has_future_bookings(*, tenant, staff_id, now):
        raise errors.Conflict("Nadia has future bookings; deactivate her instead.")

    subscribe("staff_deleting", has_future_bookings)
    response = client.delete(f"{URL}/{nadia.id}", headers=tenant.headers())
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    response = client.patch(
        f"{URL}/{nadia.id}", json={"is_active": False}, headers=tenant.headers()
    )
    assert response.status_code == 200
    assert response.get_json()["is_active"] is False


def test_another_tenants_staff_is_invisible(client, tenant, other_tenant):
    use_tenant(other_tenant)
    theirs = make_staff().id
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(
            f"{URL}/{theirs}", json={"is_active": False}, headers=tenant.headers()
        )
        assert response.status_code == 404, method
