"""Bookings upkeep: expired Idempotency-Keys are purged; erasing a customer scrubs booking text."""

from datetime import timedelta

import sqlalchemy as sa

from bookme.core import clock
from bookme.core.db import session


def test_expired_idempotency_keys_are_purged_by_the_hourly_job(api):
    from bookme.bookings.tasks import purge_idempotency_keys

    response = api.create(headers={"Idempotency-Key": "purge-me"})
    assert response.status_code == 201
    count = "SELECT count(*) FROM idempotency_keys WHERE key = 'purge-me'"

    purge_idempotency_keys()
    assert session().execute(sa.text(count)).scalar_one() == 1  # still within its 24 hours

    clock.advance(timedelta(hours=25))
    purge_idempotency_keys()
    assert session().execute(sa.text(count)).scalar_one() == 0


def test_erasing_a_customer_clears_the_notes_on_their_bookings(api):
    booking = api.created(notes="Allergic to henna; call her husband Omar on 0611223344")
    erased = api.client.post(
        f"/api/v1/customers/{booking['customer_id']}/erase", headers=api.headers
    )
    assert erased.status_code == 204
    notes = (
        session()
        .execute(sa.text("SELECT notes FROM bookings WHERE id = :id"), {"id": booking["id"]})
        .scalar_one()
    )
    assert notes is None
    kept = api.get(f"/{booking['id']}")
    assert kept.status_code == 200
    assert kept.get_json()["customer_id"] == booking["customer_id"]
