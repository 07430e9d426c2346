"""Weekly working hours: the whole week (a bare list, as API.md shows) replaced at once,
validated, each person their own."""

import json

import pytest

from tests.factories import make_staff, use_tenant

WEEK = [
    {"weekday": 2, "start": "14:00", "end": "18:00"},
    {"weekday": 1, "start": "14:00", "end": "24:00"},
    {"weekday": 1, "start": "09:00", "end": "13:00"},
    {"weekday": 2, "start": "09:00", "end": "14:00"},
]


def url(staff_id):
    return f"/api/v1/staff/{staff_id}/working-hours"


@pytest.fixture
def nadia(tenant):
    use_tenant(tenant)
    return make_staff(display_name="Nadia")


def test_the_week_is_replaced_and_read_back_in_order(client, tenant, nadia):
    response = client.put(url(nadia.id), json=WEEK, headers=tenant.headers())
    assert response.status_code == 200, response.get_json()
    expected = [
        {"weekday": 1, "start": "09:00", "end": "13:00"},
        {"weekday": 1, "start": "14:00", "end": "24:00"},
        {"weekday": 2, "start": "09:00", "end": "14:00"},
        {"weekday": 2, "start": "14:00", "end": "18:00"},
    ]
    assert response.get_json() == expected
    assert client.get(url(nadia.id), headers=tenant.headers()).get_json() == expected

    again = client.put(
        url(nadia.id),
        json=[{"weekday": 7, "start": "10:00", "end": "12:00"}],
        headers=tenant.headers(),
    )
    assert again.get_json() == [{"weekday": 7, "start": "10:00", "end": "12:00"}]
    cleared = client.put(url(nadia.id), json=[], headers=tenant.headers())
    assert cleared.status_code == 200
    assert client.get(url(nadia.id), headers=tenant.headers()).get_json() == []


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"weekday": 0, "start": "09:00", "end": "10:00"}, "weekday"),
        ({"weekday": 8, "start": "09:00", "end": "10:00"}, "weekday"),
        ({"weekday": "1", "start": "09:00", "end": "10:00"}, "weekday"),
        ({"start": "09:00", "end": "10:00"}, "weekday"),
        ({"weekday": 1, "start": "9:00", "end": "10:00"}, "start"),
        ({"weekday": 1, "start": "09:00", "end": "25:00"}, "end"),
        ({"weekday": 1, "start": "09:60", "end": "10:00"}, "start"),
        ({"weekday": 1, "start": "09:00:00", "end": "10:00"}, "start"),
        ({"weekday": 1, "start": 900, "end": "10:00"}, "start"),
        ({"weekday": 1, "start": "10:00", "end": "10:00"}, "end"),
        ({"weekday": 1, "start": "11:00", "end": "10:00"}, "end"),
        ({"weekday": 1, "start": "24:00", "end": "24:00"}, "end"),
        ({"weekday": 1, "start": "09:00"}, "end"),
        ({"weekday": 1, "start": "09:00", "end": "10:00", "note": "x"}, "note"),
        ({"weekday": 1, "start": "09:00", "end": "10:00", "id": "x"}, "id"),
    ],
)
def test_an_invalid_interval_is_refused_by_its_index(client, tenant, nadia, item, field):
    body = [{"weekday": 3, "start": "09:00", "end": "10:00"}, item]
    response = client.put(url(nadia.id), json=body, headers=tenant.headers())
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert field in problem["errors"]["1"], problem


def test_overlaps_within_a_day_name_the_later_interval(client, tenant, nadia):
    body = [
        {"weekday": 1, "start": "09:00", "end": "13:00"},
        {"weekday": 2, "start": "12:00", "end": "15:00"},  # other day: fine
        {"weekday": 1, "start": "12:30", "end": "14:00"},
        {"weekday": 1, "start": "13:00", "end": "14:00"},  # touches 0, overlaps 2
    ]
    response = client.put(url(nadia.id), json=body, headers=tenant.headers())
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "2": ["Overlaps interval 0."],
        "3": ["Overlaps interval 2."],
    }


def test_touching_intervals_are_not_overlaps(client, tenant, nadia):
    body = [
        {"weekday": 1, "start": "09:00", "end": "13:00"},
        {"weekday": 1, "start": "13:00", "end": "17:00"},
    ]
    assert client.put(url(nadia.id), json=body, headers=tenant.headers()).status_code == 200


def test_a_refused_week_leaves_the_previous_one_in_place(client, tenant, nadia):
    client.put(url(nadia.id), json=WEEK, headers=tenant.headers())
    bad = [
        {"weekday": 1, "start": "09:00", "end": "12:00"},
        {"weekday": 1, "start": "11:00", "end": "12:00"},
    ]
    assert client.put(url(nadia.id), json=bad, headers=tenant.headers()).status_code == 422
    assert len(client.get(url(nadia.id), headers=tenant.headers()).get_json()) == 4


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (json.dumps({"intervals": WEEK}), 400),  # the week is a list, not an object
        (json.dumps(None), 400),
        (json.dumps("09:00-13:00"), 400),
        ("", 422),  # no body is not "no hours"
        (json.dumps([None]), 422),
        (json.dumps([{"weekday": 1, "start": "09:00\u0000", "end": "10:00"}]), 422),
        (json.dumps([{"weekday": 1, "start": "09:00", "end": "10:00"}] * 101), 422),
    ],
)
def test_malformed_week_bodies_are_refused(client, tenant, nadia, raw, status):
    response = client.put(
        url(nadia.id), data=raw, content_type="application/json", headers=tenant.headers()
    )
    assert response.status_code == status, response.get_json()


def test_staff_change_their_own_week_only(client, tenant, staff_member, manager):
    use_tenant(tenant)
    me = make_staff(user_id=staff_member.user_id)
    colleague = make_staff()
    mine = client.put(url(me.id), json=WEEK, headers=tenant.headers(staff_member))
    assert mine.status_code == 200
    assert client.get(url(me.id), headers=tenant.headers(staff_member)).status_code == 200
    # Someone else's: 403 whatever the body holds, before it is validated.
    theirs = client.put(
        url(colleague.id), json={"intervals": "junk"}, headers=tenant.headers(staff_member)
    )
    assert theirs.status_code == 403
    assert theirs.get_json()["code"] == "forbidden"
    assert client.get(url(colleague.id), headers=tenant.headers(staff_member)).status_code == 403
    # Managers reach everyone's.
    assert (
        client.put(url(colleague.id), json=WEEK, headers=tenant.headers(manager)).status_code == 200
    )


def test_a_staff_user_not_linked_to_a_staff_member_changes_nothing(
    client, tenant, staff_member, nadia
):
    response = client.put(url(nadia.id), json=WEEK, headers=tenant.headers(staff_member))
    assert response.status_code == 403


def test_an_unknown_or_foreign_staff_member_is_not_found(client, tenant, other_tenant):
    use_tenant(other_tenant)
    theirs = make_staff().id
    for staff_id in (theirs, "6b0e8f44-1c53-4b0f-9a43-5b7c7f0d2a11"):
        assert client.get(url(staff_id), headers=tenant.headers()).status_code == 404
        response = client.put(url(staff_id), json={"intervals": "junk"}, headers=tenant.headers())
        assert response.status_code == 404


def test_without_a_token_the_week_is_refused(client, tenant, nadia):
    response = client.put(url(nadia.id), json=[], headers={"X-Tenant": tenant.slug})
    assert response.status_code == 401
