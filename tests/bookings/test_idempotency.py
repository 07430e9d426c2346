"""Idempotency-Key on POST /bookings and POST /public/bookings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from bookme.bookings.models import Booking, IdempotencyKey
from bookme.core import clock
from bookme.core.db import session
from tests.bookings.conftest import NOW
from tests.conftest import add_member
from tests.factories import use_tenant


def _count(salon, model=Booking):
    use_tenant(salon.tenant)
    return session().scalar(sa.select(sa.func.count()).select_from(model))


def test_the_same_key_and_request_replays_the_first_answer(api, salon):
    key = {"Idempotency-Key": "order-1"}
    first = api.create(headers=key)
    again = api.create(headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert _count(salon) == 1


def test_the_same_request_with_an_equivalent_instant_is_the_same_request(api, salon):
    key = {"Idempotency-Key": "order-1"}
    first = api.create(headers=key)
    body = api.body()
    body["starts_at"] = "2027-05-04T09:00:00Z"
    again = api.client.post("/api/v1/bookings", json=body, headers={**api.headers, **key})
    assert again.status_code == 201
    assert again.get_json() == first.get_json()


def test_the_same_key_with_another_request_is_refused(api, salon):
    api.create("2027-05-04 10:00", headers={"Idempotency-Key": "order-1"})
    other = api.create("2027-05-04 11:00", headers={"Idempotency-Key": "order-1"})
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert _count(salon) == 1


def test_an_error_answer_is_replayed_too(api, salon):
    api.created("2027-05-04 10:00")
    key = {"Idempotency-Key": "order-2"}
    first = api.create(
        "2027-05-04 10:00", headers=key, customer={"full_name": "B", "phone": "+212622222222"}
    )
    assert first.status_code == 409
    again = api.create(
        "2027-05-04 10:00", headers=key, customer={"full_name": "B", "phone": "+212622222222"}
    )
    assert again.status_code == 409
    assert again.get_json() == first.get_json()
    assert again.mimetype == "application/problem+json"


def test_a_key_in_progress_is_409_until_its_lease_passes(api, salon):
    key = {"Idempotency-Key": "order-3"}
    # Claim the key the way a request does, then "crash": nothing else happens.
    from bookme.bookings import idempotency

    use_tenant(salon.tenant)
    body = api.body()
    from bookme.bookings.schemas import BookingCreateSchema

    digest = idempotency.fingerprint("create_booking", BookingCreateSchema().load(body))
    claim = idempotency.begin(
        scope=f"user:{salon.tenant.owner.user_id}", key="order-3", digest=digest, now=NOW
    )
    assert isinstance(claim, idempotency.Claim)
    busy = api.create(headers=key)
    assert busy.status_code == 409
    assert busy.get_json()["code"] == "idempotency_in_progress"
    assert _count(salon) == 0
    clock.advance(idempotency.LEASE)
    retried = api.create(headers=key)
    assert retried.status_code == 201
    assert _count(salon) == 1


def test_keys_are_scoped_to_the_caller(api, salon):
    manager = api.as_(add_member(salon.tenant, "manager"))
    key = {"Idempotency-Key": "same-key"}
    assert api.create("2027-05-04 10:00", headers=key).status_code == 201
    assert manager.create("2027-05-04 11:00", headers=key).status_code == 201
    assert _count(salon) == 2


def test_keys_are_kept_for_24_hours(api, salon):
    key = {"Idempotency-Key": "order-4"}
    first = api.create("2027-05-04 10:00", headers=key)
    clock.advance(timedelta(hours=23, minutes=59))
    assert api.create("2027-05-04 10:00", headers=key).get_data() == first.get_data()
    clock.advance(timedelta(minutes=1))
    # Expired: the key is new again, so this runs afresh (and the time is taken now).
    fresh = api.create("2027-05-04 11:00", headers=key)
    assert fresh.status_code == 201
    assert fresh.get_json()["id"] != first.get_json()["id"]


def test_expired_keys_are_purged(api, salon):
    from bookme.bookings import idempotency

    api.create(headers={"Idempotency-Key": "order-5"})
    use_tenant(salon.tenant)
    assert idempotency.purge_expired(now=NOW + timedelta(hours=1)) == 0
    assert idempotency.purge_expired(now=NOW + timedelta(hours=24)) == 1
    assert _count(salon, IdempotencyKey) == 0


def test_a_key_longer_than_255_characters_is_a_validation_error(api):
    response = api.create(headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert api.create(headers={"Idempotency-Key": "k" * 255}).status_code == 201


def test_without_a_key_every_request_runs(api, salon):
    api.created("2027-05-04 10:00")
    api.created("2027-05-04 11:00")
    assert _count(salon, IdempotencyKey) == 0


def test_an_unexpected_failure_releases_the_key(api, salon):
    from bookme.core import events

    def explode(**_):
        raise ValueError("boom")

    events.subscribe("booking.created")(explode)
    try:
        failed = api.create(headers={"Idempotency-Key": "order-6"})
    except ValueError:
        failed = None
    finally:
        events._handlers["booking.created"].remove(explode)
    assert failed is None or failed.status_code == 500
    assert _count(salon, IdempotencyKey) == 0
    assert api.create(headers={"Idempotency-Key": "order-6"}).status_code == 201


def test_the_public_endpoint_honours_keys_per_client_address(client, salon):
    body = {
        "service_id": str(salon.service.id),
        "starts_at": "2027-05-04T10:00:00+01:00",
        "customer": {"full_name": "Salma", "phone": "+212612345678"},
    }
    headers = {"X-Tenant": salon.tenant.slug, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/api/v1/public/bookings", json=body, headers=headers)
    again = client.post("/api/v1/public/bookings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    other = client.post(
        "/api/v1/public/bookings",
        json=body,
        headers=headers,
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    # Another caller: its own key space, so this books again (the other staff member).
    assert other.status_code == 201
    assert other.get_json()["staff_id"] != first.get_json()["staff_id"]
