"""Date overrides: one local date's hours (a bare list) replacing the week; `[]` is a day off."""

import json
from datetime import UTC, datetime

import pytest

from bookme.core import clock
from tests.factories import make_override, make_staff, use_tenant


def url(staff_id, day=None):
    base = f"/api/v1/staff/{staff_id}/date-overrides"
    return f"{base}/{day}" if day else base


@pytest.fixture
def nadia(tenant):
    use_tenant(tenant)
    return make_staff(display_name="Nadia", hours={1: [("09:00", "18:00")]})


def test_an_override_is_set_read_replaced_and_removed(client, tenant, nadia):
    body = [{"start": "14:00", "end": "18:00"}, {"start": "09:00", "end": "12:00"}]
    response = client.put(url(nadia.id, "2027-03-01"), json=body, headers=tenant.headers())
    assert response.status_code == 200, response.get_json()
    expected = {
        "date": "2027-03-01",
        "intervals": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "18:00"}],
    }
    assert response.get_json() == expected
    assert client.get(url(nadia.id, "2027-03-01"), headers=tenant.headers()).get_json() == expected

    off = client.put(url(nadia.id, "2027-03-01"), json=[], headers=tenant.headers())
    assert off.get_json() == {"date": "2027-03-01", "intervals": []}

    assert client.delete(url(nadia.id, "2027-03-01"), headers=tenant.headers()).status_code == 204
    assert client.get(url(nadia.id, "2027-03-01"), headers=tenant.headers()).status_code == 404
    assert client.delete(url(nadia.id, "2027-03-01"), headers=tenant.headers()).status_code == 404


@pytest.mark.parametrize(
    "day", ["2027-02-30", "20270301", "2027-3-1", "tomorrow", "2027-03-01T00:00"]
)
def test_a_malformed_date_is_a_validation_error(client, tenant, nadia, day):
    response = client.put(url(nadia.id, day), json=[], headers=tenant.headers())
    assert response.status_code == 422
    assert "date" in response.get_json()["errors"]
    assert client.delete(url(nadia.id, day), headers=tenant.headers()).status_code == 422


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            [{"start": "10:00", "end": "09:00"}],
            {"0": {"end": ["Must be after start."]}},
        ),
        (
            [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}],
            {"1": ["Overlaps interval 0."]},
        ),
        (
            [{"start": "09:00", "end": "12:00", "weekday": 1}],
            {"0": {"weekday": ["Unknown field."]}},
        ),
        ([{"start": "09:00", "end": "12:00"}] * 49, None),
    ],
)
def test_invalid_override_bodies_are_refused(client, tenant, nadia, body, errors):
    response = client.put(url(nadia.id, "2027-03-01"), json=body, headers=tenant.headers())
    assert response.status_code == 422
    if errors is not None:
        assert response.get_json()["errors"] == errors


@pytest.mark.parametrize("raw", ["", json.dumps({"intervals": []}), json.dumps(None)])
def test_an_override_body_must_be_a_list(client, tenant, nadia, raw):
    response = client.put(
        url(nadia.id, "2027-03-01"),
        data=raw,
        content_type="application/json",
        headers=tenant.headers(),
    )
    assert response.status_code == (422 if raw == "" else 400), response.get_json()
    assert client.get(url(nadia.id, "2027-03-01"), headers=tenant.headers()).status_code == 404


def test_overrides_are_listed_by_date_within_a_range(client, tenant, nadia):
    make_override(nadia, "2027-03-01", [("10:00", "12:00")])
    make_override(nadia, "2027-03-05", [])
    make_override(nadia, "2027-04-01", [("08:00", "09:00")])
    response = client.get(
        url(nadia.id) + "?from=2027-03-01&to=2027-03-31", headers=tenant.headers()
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == [
        {"date": "2027-03-01", "intervals": [{"start": "10:00", "end": "12:00"}]},
        {"date": "2027-03-05", "intervals": []},
    ]
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    inclusive = client.get(
        url(nadia.id) + "?from=2027-03-05&to=2027-04-01", headers=tenant.headers()
    )
    assert [o["date"] for o in inclusive.get_json()] == ["2027-03-05", "2027-04-01"]


def test_the_override_range_defaults_to_366_days_from_today(client, tenant, nadia):
    for day in ("2027-05-31", "2027-06-01", "2028-05-31", "2028-06-01"):
        make_override(nadia, day, [])
    # 23:30 UTC on 31 May is already 1 June in Casablanca (UTC+1 outside Ramadan).
    with clock.frozen(datetime(2027, 5, 31, 23, 30, tzinfo=UTC)):
        response = client.get(url(nadia.id), headers=tenant.headers())
    assert [o["date"] for o in response.get_json()] == ["2027-06-01", "2028-05-31"]


@pytest.mark.parametrize(
    "query",
    [
        "from=2027-03-10&to=2027-03-01",
        "from=2027-01-01&to=2028-01-02",
        "from=2027-13-01",
        "to=soon",
    ],
)
def test_bad_override_ranges_are_refused(client, tenant, nadia, query):
    response = client.get(url(nadia.id) + "?" + query, headers=tenant.headers())
    assert response.status_code == 422


def test_the_longest_override_range_is_366_days(client, tenant, nadia):
    response = client.get(
        url(nadia.id) + "?from=2027-01-01&to=2028-01-01", headers=tenant.headers()
    )
    assert response.status_code == 200


def test_staff_manage_only_their_own_overrides(client, tenant, staff_member, nadia):
    use_tenant(tenant)
    me = make_staff(user_id=staff_member.user_id)
    headers = tenant.headers(staff_member)
    assert client.put(url(me.id, "2027-03-01"), json=[], headers=headers).status_code == 200
    assert client.get(url(me.id), headers=headers).status_code == 200
    assert client.delete(url(me.id, "2027-03-01"), headers=headers).status_code == 204
    for response in (
        client.put(url(nadia.id, "2027-03-01"), json={"junk": True}, headers=headers),
        client.put(url(nadia.id, "not-a-date"), json={"junk": True}, headers=headers),
        client.get(url(nadia.id), headers=headers),
        client.get(url(nadia.id, "2027-03-01"), headers=headers),
        client.delete(url(nadia.id, "2027-03-01"), headers=headers),
    ):
        assert response.status_code == 403


def test_another_tenants_overrides_are_unreachable(client, tenant, other_tenant):
    use_tenant(other_tenant)
    theirs = make_staff()
    make_override(theirs, "2027-03-01", [])
    theirs_id = theirs.id
    assert client.get(url(theirs_id), headers=tenant.headers()).status_code == 404
    assert client.get(url(theirs_id, "2027-03-01"), headers=tenant.headers()).status_code == 404
    assert client.delete(url(theirs_id, "2027-03-01"), headers=tenant.headers()).status_code == 404
    assert (
        client.put(url(theirs_id, "2027-03-01"), json=[], headers=tenant.headers()).status_code
        == 404
    )
