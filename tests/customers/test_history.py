"""A customer's bookings and the visit stats on the customer resource."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bookme.core import clock
from bookme.extensions import db as fsa
from tests.customers.conftest import insert_booking
from tests.factories import make_service, make_staff, use_tenant

NOW = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def catalog(tenant):
    use_tenant(tenant)
    cut = make_service(name="Coupe")
    nadia = make_staff(display_name="Nadia", services=[cut])
    return cut, nadia


def test_bookings_are_listed_newest_first_and_paginated(api, catalog):
    cut, nadia = catalog
    customer = api.created()
    other = api.created(full_name="Other")
    ids = [
        insert_booking(customer["id"], NOW + timedelta(days=d), service=cut, staff=nadia)
        for d in (-10, 5, -2)
    ]
    insert_booking(other["id"], NOW + timedelta(days=1), service=cut, staff=nadia)
    rows = api.get(f"/{customer['id']}/bookings").get_json()
    assert [r["id"] for r in rows] == [str(ids[1]), str(ids[2]), str(ids[0])]
    assert rows[0]["service_name"] == "Coupe" and rows[0]["staff_name"] == "Nadia"
    assert rows[0]["price"] == "80.00" and rows[0]["currency"] == "MAD"
    assert rows[0]["starts_at"] == "2027-04-06T10:00:00+01:00"
    response = api.get(f"/{customer['id']}/bookings", page=2, page_size=2)
    assert [r["id"] for r in response.get_json()] == [str(ids[0])]
    assert json.loads(response.headers["X-Pagination"])["total"] == 3


def test_a_customer_without_bookings_has_an_empty_history_and_zero_visits(api):
    customer = api.created()
    assert api.get(f"/{customer['id']}/bookings").get_json() == []
    assert customer["visit_count"] == 0
    assert customer["no_show_count"] == 0
    assert customer["last_visit_at"] is None


def test_visits_no_shows_and_last_visit_are_on_the_customer(api, catalog):
    cut, nadia = catalog
    customer = api.created()
    for days, status in [
        (-30, "completed"),
        (-7, "completed"),
        (-3, "no_show"),
        (-1, "cancelled"),
        (2, "confirmed"),
    ]:
        insert_booking(customer["id"], NOW + timedelta(days=days), status, service=cut, staff=nadia)
    body = api.get(f"/{customer['id']}").get_json()
    assert body["visit_count"] == 2
    assert body["no_show_count"] == 1
    assert body["last_visit_at"] == "2027-03-25T10:00:00+01:00"
    (listed,) = api.search()
    assert (listed["visit_count"], listed["no_show_count"]) == (2, 1)


def test_the_list_computes_visit_stats_without_a_query_per_customer(api, catalog):
    cut, nadia = catalog
    for i in range(15):
        customer = api.created(full_name=f"Client {i:02d}")
        insert_booking(
            customer["id"], NOW - timedelta(days=i + 1), "completed", service=cut, staff=nadia
        )
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = fsa.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        rows = api.search(page_size=15)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert all(row["visit_count"] == 1 for row in rows)
    customer_queries = [s for s in statements if "customers" in s]
    assert len(customer_queries) == 2, customer_queries  # the page and its total
