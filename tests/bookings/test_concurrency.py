"""Races against a real server process: real threads, real commits, separate connections.

A tenant is committed for the module and dropped afterwards; the server is gunicorn with two
worker processes of eight threads, so requests really run in parallel on separate database
connections. Rate limits are off in the server: they are not what is tested here.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.bookings.live import CommittedTenant
from tests.plugins.live import committed_tenant, race, serving

ALL_DAY = {day: [("00:00", "24:00")] for day in range(1, 8)}


class Live:
    def __init__(
        self, base: str, tenant: CommittedTenant, service_id: uuid.UUID, staff: list[uuid.UUID]
    ) -> None:
        self.base = base
        self.tenant = tenant
        self.service_id = service_id
        self.staff = staff
        self.day = datetime.now(UTC).date() + timedelta(days=3)

    def slot(self, hour: int, minute: int = 0) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, hour, minute, tzinfo=UTC)

    def booking(
        self, starts_at: datetime, staff_id: uuid.UUID | None, phone: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "service_id": str(self.service_id),
            "starts_at": starts_at.isoformat(),
            "customer": {"full_name": "Racer", "phone": phone},
        }
        if staff_id is not None:
            body["staff_id"] = str(staff_id)
        return body


@pytest.fixture(scope="module")
def live(app: Any) -> Iterator[Live]:
    from tests.factories import make_service, make_staff

    with committed_tenant(app, slug_prefix="race", name="Race", owner_name="Race Owner") as tenant:
        service = make_service(
            name="Race cut",
            duration_minutes=30,
            slot_interval_minutes=30,
            min_notice_minutes=0,
            max_advance_days=365,
        )
        staff = [
            make_staff(services=[service], hours=ALL_DAY, display_name=f"Staff {n}").id
            for n in range(3)
        ]
        service_id = service.id
        with serving(app) as base:
            yield Live(base, tenant, service_id, staff)


def _active_at(live: Live, starts_at: datetime) -> list[tuple[Any, ...]]:
    from bookme.extensions import db

    with db.engine.connect() as conn:
        return conn.execute(
            sa.text(
                f'SELECT id, staff_id FROM "{live.tenant.schema}".bookings'
                " WHERE status IN ('pending', 'confirmed') AND starts_at = :at"
            ),
            {"at": starts_at},
        ).all()


def test_many_requests_for_one_slot_make_exactly_one_booking(live):
    at = live.slot(9)
    responses = race(
        24,
        lambda i, http: http.post(
            f"{live.base}/api/v1/bookings",
            json=live.booking(at, live.staff[0], f"+2126100000{i:02d}"),
            headers=live.tenant.headers(),
            timeout=60,
        ),
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 23}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"slot_unavailable"}
    assert len(_active_at(live, at)) == 1


def test_any_staff_races_fill_each_staff_member_once(live):
    at = live.slot(11)
    responses = race(
        15,
        lambda i, http: http.post(
            f"{live.base}/api/v1/bookings",
            json=live.booking(at, None, f"+2126200000{i:02d}"),
            headers=live.tenant.headers(),
            timeout=60,
        ),
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 3, 409: 12}, statuses
    winners = sorted(r.json()["staff_id"] for r in responses if r.status_code == 201)
    assert winners == sorted(str(s) for s in live.staff)
    assert len(_active_at(live, at)) == 3


def test_concurrent_duplicates_of_one_idempotency_key_make_one_booking(live):
    at = live.slot(13)
    body = live.booking(at, live.staff[1], "+212630000000")
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    responses = race(
        10,
        lambda i, http: http.post(
            f"{live.base}/api/v1/bookings",
            json=body,
            headers={**live.tenant.headers(), **key},
            timeout=60,
        ),
    )
    for response in responses:
        assert response.status_code in (201, 409), response.text
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_progress"
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.content for r in created}) == 1
    assert len(_active_at(live, at)) == 1
    replay = requests.post(
        f"{live.base}/api/v1/bookings",
        json=body,
        headers={**live.tenant.headers(), **key},
        timeout=30,
    )
    assert (replay.status_code, replay.content) == (201, created[0].content)


def test_racing_reschedules_onto_one_slot_leave_one_booking_there(live):
    first = requests.post(
        f"{live.base}/api/v1/bookings",
        json=live.booking(live.slot(15), live.staff[2], "+212640000001"),
        headers=live.tenant.headers(),
        timeout=30,
    ).json()
    second = requests.post(
        f"{live.base}/api/v1/bookings",
        json=live.booking(live.slot(16), live.staff[2], "+212640000002"),
        headers=live.tenant.headers(),
        timeout=30,
    ).json()
    target = live.slot(17)
    ids = [first["id"], second["id"]]
    responses = race(
        12,
        lambda i, http: http.post(
            f"{live.base}/api/v1/bookings/{ids[i % 2]}/reschedule",
            json={"starts_at": target.isoformat()},
            headers=live.tenant.headers(),
            timeout=60,
        ),
    )
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    moved = {r.json()["id"] for r in responses if r.status_code == 200}
    assert len(moved) == 1
    assert [row.id for row in _active_at(live, target)] == [uuid.UUID(moved.pop())]
