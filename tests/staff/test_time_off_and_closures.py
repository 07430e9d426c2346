"""Time off and closures: instants with offsets in, the tenant's offset out, listable by range."""

import json

import pytest

from tests.conftest import make_tenant
from tests.factories import make_closure, make_staff, make_time_off, use_tenant

CLOSURES = "/api/v1/closures"


def time_off_url(staff_id, item=None):
    base = f"/api/v1/staff/{staff_id}/time-off"
    return f"{base}/{item}" if item else base


@pytest.fixture
def nadia(tenant):
    use_tenant(tenant)
    return make_staff(display_name="Nadia")


def test_time_off_is_created_read_updated_and_deleted(client, tenant, nadia):
    body = {
        "starts_at": "2027-03-20T09:00:00Z",
        "ends_at": "2027-03-20T13:00:00+01:00",
        "reason": "Médecin",
    }
    response = client.post(time_off_url(nadia.id), json=body, headers=tenant.headers())
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["staff_id"] == str(nadia.id)
    assert created["starts_at"] == "2027-03-20T10:00:00+01:00"
    assert created["ends_at"] == "2027-03-20T13:00:00+01:00"
    assert created["reason"] == "Médecin"
    item = time_off_url(nadia.id, created["id"])
    assert client.get(item, headers=tenant.headers()).get_json() == created

    patched = client.patch(
        item,
        json={"ends_at": "2027-03-20T18:00:00+01:00", "reason": None},
        headers=tenant.headers(),
    )
    assert patched.status_code == 200
    assert patched.get_json()["ends_at"] == "2027-03-20T18:00:00+01:00"
    assert patched.get_json()["reason"] is None

    assert client.delete(item, headers=tenant.headers()).status_code == 204
    assert client.get(item, headers=tenant.headers()).status_code == 404


def test_outputs_carry_the_tenants_offset_at_each_instant(client, tenant, nadia):
    # Casablanca is UTC+1, except during Ramadan (UTC+0 from 7 February to 14 March 2027).
    ramadan = {"starts_at": "2027-02-20T12:00:00+00:00", "ends_at": "2027-03-20T12:00:00+00:00"}
    response = client.post(time_off_url(nadia.id), json=ramadan, headers=tenant.headers())
    assert response.get_json()["starts_at"] == "2027-02-20T12:00:00+00:00"
    assert response.get_json()["ends_at"] == "2027-03-20T13:00:00+01:00"


def test_a_tenant_elsewhere_sees_its_own_offsets(client, db):
    paris = make_tenant(timezone="Europe/Paris", currency="EUR")
    body = {
        "starts_at": "2027-03-27T23:00:00Z",
        "ends_at": "2027-03-28T12:00:00Z",
        "reason": "Pâques",
    }
    response = client.post(CLOSURES, json=body, headers=paris.headers())
    assert response.status_code == 201
    # Paris moves to summer time in between (28 March 2027, 02:00 → 03:00).
    assert response.get_json()["starts_at"] == "2027-03-28T00:00:00+01:00"
    assert response.get_json()["ends_at"] == "2027-03-28T14:00:00+02:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "2027-03-20T09:00:00", "ends_at": "2027-03-20T10:00:00+01:00"}, "starts_at"),
        ({"starts_at": "2027-03-20T09:00:00+01:00", "ends_at": "2027-03-20"}, "ends_at"),
        (
            {"starts_at": "2027-03-20T10:00:00+01:00", "ends_at": "2027-03-20T10:00:00+01:00"},
            "ends_at",
        ),
        ({"starts_at": "2027-03-20T10:00:00+01:00", "ends_at": "2027-03-20T08:59:00Z"}, "ends_at"),
        (
            {"starts_at": "0001-01-01T00:00:00+00:00", "ends_at": "2027-03-20T10:00:00+01:00"},
            "starts_at",
        ),
        (
            {"starts_at": "2027-03-20T10:00:00+01:00", "ends_at": "9999-12-31T23:00:00-05:00"},
            "ends_at",
        ),
        ({"starts_at": "2027-03-20T10:00:00+01:00"}, "ends_at"),
        (
            {
                "starts_at": "2027-03-20T09:00:00+01:00",
                "ends_at": "2027-03-20T10:00:00+01:00",
                "reason": "x" * 501,
            },
            "reason",
        ),
        (
            {
                "starts_at": "2027-03-20T09:00:00+01:00",
                "ends_at": "2027-03-20T10:00:00+01:00",
                "staff_id": "x",
            },
            "staff_id",
        ),
    ],
)
def test_invalid_periods_are_refused(client, tenant, nadia, body, field):
    for target in (time_off_url(nadia.id), CLOSURES):
        response = client.post(target, json=body, headers=tenant.headers())
        assert response.status_code == 422, (target, response.get_json())
        assert field in response.get_json()["errors"]


def test_an_update_that_would_end_before_the_start_is_refused(client, tenant, nadia):
    off = make_time_off(nadia, "2027-03-20T09:00:00+01:00", "2027-03-20T12:00:00+01:00")
    closed = make_closure("2027-03-20T00:00:00+01:00", "2027-03-21T00:00:00+01:00")
    late = {"starts_at": "2027-03-22T09:00:00+01:00"}
    response = client.patch(time_off_url(nadia.id, off.id), json=late, headers=tenant.headers())
    assert response.status_code == 422
    assert "ends_at" in response.get_json()["errors"]
    assert (
        client.patch(f"{CLOSURES}/{closed.id}", json=late, headers=tenant.headers()).status_code
        == 422
    )


def test_time_off_is_listed_by_range_of_instants_or_local_dates(client, tenant, nadia):
    make_time_off(nadia, "2027-03-19T22:00:00+01:00", "2027-03-20T02:00:00+01:00", "night")
    make_time_off(nadia, "2027-03-21T09:00:00+01:00", "2027-03-21T12:00:00+01:00", "morning")
    make_time_off(nadia, "2027-03-25T09:00:00+01:00", "2027-03-25T12:00:00+01:00", "later")
    colleague = make_staff()
    make_time_off(colleague, "2027-03-21T09:00:00+01:00", "2027-03-21T12:00:00+01:00", "theirs")

    def reasons(query=""):
        response = client.get(time_off_url(nadia.id) + query, headers=tenant.headers())
        assert response.status_code == 200, response.get_json()
        return [item["reason"] for item in response.get_json()]

    assert reasons() == ["night", "morning", "later"]
    # Local dates: from its start, to inclusive (up to its end).
    assert reasons("?from=2027-03-20&to=2027-03-21") == ["night", "morning"]
    assert reasons("?from=2027-03-22") == ["later"]
    assert reasons("?to=2027-03-19") == ["night"]
    # Instants: overlapping [from, to).
    assert reasons("?from=2027-03-20T01:00:00%2B01:00&to=2027-03-21T09:00:00%2B01:00") == ["night"]
    assert reasons("?from=2027-03-20T01:00:00Z&to=2027-03-21T08:00:01Z") == ["morning"]
    # An unencoded "+" (read as a space) is taken for what it meant.
    assert reasons("?from=2027-03-21T11:59:00+01:00") == ["morning", "later"]


@pytest.mark.parametrize(
    "query",
    [
        "?from=2027-03-20T10:00:00",
        "?from=soon",
        "?from=2027-02-30",
        "?from=2027-03-21&to=2027-03-20",
    ],
)
def test_bad_period_ranges_are_refused(client, tenant, nadia, query):
    assert client.get(time_off_url(nadia.id) + query, headers=tenant.headers()).status_code == 422
    assert client.get(CLOSURES + query, headers=tenant.headers()).status_code == 422


def test_time_off_of_another_staff_member_is_not_found_under_this_one(client, tenant, nadia):
    colleague = make_staff()
    theirs = make_time_off(colleague, "2027-03-20T09:00:00+01:00", "2027-03-20T12:00:00+01:00")
    response = client.get(time_off_url(nadia.id, theirs.id), headers=tenant.headers())
    assert response.status_code == 404


def test_staff_manage_only_their_own_time_off(client, tenant, staff_member, nadia):
    use_tenant(tenant)
    me = make_staff(user_id=staff_member.user_id)
    theirs = make_time_off(nadia, "2027-03-20T09:00:00+01:00", "2027-03-20T12:00:00+01:00")
    headers = tenant.headers(staff_member)
    body = {"starts_at": "2027-03-20T09:00:00+01:00", "ends_at": "2027-03-20T12:00:00+01:00"}
    created = client.post(time_off_url(me.id), json=body, headers=headers)
    assert created.status_code == 201
    mine = time_off_url(me.id, created.get_json()["id"])
    assert client.patch(mine, json={"reason": "Famille"}, headers=headers).status_code == 200
    assert client.delete(mine, headers=headers).status_code == 204
    for response in (
        client.get(time_off_url(nadia.id), headers=headers),
        client.post(time_off_url(nadia.id), json={"junk": 1}, headers=headers),
        client.get(time_off_url(nadia.id, theirs.id), headers=headers),
        client.patch(time_off_url(nadia.id, theirs.id), json={"junk": 1}, headers=headers),
        client.delete(time_off_url(nadia.id, theirs.id), headers=headers),
    ):
        assert response.status_code == 403


def test_closures_are_managed_by_owners_and_managers_and_read_by_staff(
    client, tenant, manager, staff_member
):
    body = {
        "starts_at": "2027-03-10T00:00:00+00:00",
        "ends_at": "2027-03-12T00:00:00+00:00",
        "reason": "Aïd al-Fitr",
    }
    created = client.post(CLOSURES, json=body, headers=tenant.headers(manager))
    assert created.status_code == 201, created.get_json()
    closure = created.get_json()
    assert closure["reason"] == "Aïd al-Fitr"
    assert set(closure) == {"id", "starts_at", "ends_at", "reason", "created_at", "updated_at"}
    item = f"{CLOSURES}/{closure['id']}"

    staff_headers = tenant.headers(staff_member)
    assert client.get(CLOSURES, headers=staff_headers).status_code == 200
    assert client.get(item, headers=staff_headers).get_json() == closure
    assert client.post(CLOSURES, json={"junk": 1}, headers=staff_headers).status_code == 403
    assert client.patch(item, json={"junk": 1}, headers=staff_headers).status_code == 403
    assert client.delete(item, headers=staff_headers).status_code == 403

    renamed = client.patch(item, json={"reason": "Aïd"}, headers=tenant.headers())
    assert renamed.get_json()["reason"] == "Aïd"
    assert client.delete(item, headers=tenant.headers(manager)).status_code == 204
    assert client.get(item, headers=tenant.headers()).status_code == 404


def test_closures_are_listed_by_range(client, tenant):
    use_tenant(tenant)
    make_closure("2027-03-10T00:00:00+00:00", "2027-03-12T00:00:00+00:00", "Aïd al-Fitr")
    make_closure("2027-05-16T00:00:00+01:00", "2027-05-18T00:00:00+01:00", "Aïd al-Adha")
    response = client.get(CLOSURES + "?from=2027-05-01&to=2027-05-31", headers=tenant.headers())
    assert [c["reason"] for c in response.get_json()] == ["Aïd al-Adha"]
    everything = client.get(CLOSURES, headers=tenant.headers())
    assert json.loads(everything.headers["X-Pagination"])["total"] == 2


def test_another_tenants_closures_and_time_off_are_invisible(client, tenant, other_tenant):
    use_tenant(other_tenant)
    closure = make_closure("2027-03-10T00:00:00+00:00", "2027-03-12T00:00:00+00:00").id
    staff = make_staff()
    off = make_time_off(staff, "2027-03-20T09:00:00+01:00", "2027-03-20T12:00:00+01:00").id
    staff_id = staff.id
    assert client.get(CLOSURES, headers=tenant.headers()).get_json() == []
    for method in ("get", "patch", "delete"):
        assert (
            getattr(client, method)(
                f"{CLOSURES}/{closure}", json={}, headers=tenant.headers()
            ).status_code
            == 404
        )
        assert (
            getattr(client, method)(
                time_off_url(staff_id, off), json={}, headers=tenant.headers()
            ).status_code
            == 404
        )
