"""Bookings test helpers: a small salon (one service, two staff) and an HTTP helper."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bookme.core import clock, events
from tests.plugins.live import Salon, SalonApi, make_salon

# Monday 3 May 2027, 09:00 in Casablanca (UTC+1 outside Ramadan).
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


def at(local: str) -> str:
    """A local Casablanca time on the test dates, as RFC 3339 (`"2027-05-04 10:00"`)."""
    day, time = local.split()
    return f"{day}T{time}:00+01:00"


class BookingsApi(SalonApi):
    """The bookings endpoints as one member of one tenant."""

    salon: Salon

    def body(self, starts_at: str = "2027-05-04 10:00", **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "service_id": str(self.salon.service.id),
            "staff_id": str(self.salon.nadia.id),
            "starts_at": at(starts_at),
            "customer": {"full_name": "Salma B.", "phone": "+212612345678"},
        }
        body.update(extra)
        return {k: v for k, v in body.items() if v is not None}

    def create(self, starts_at: str = "2027-05-04 10:00", headers: Any = None, **extra: Any) -> Any:
        return self.client.post(
            "/api/v1/bookings",
            json=self.body(starts_at, **extra),
            headers={**self.headers, **(headers or {})},
        )

    def created(self, starts_at: str = "2027-05-04 10:00", **extra: Any) -> dict[str, Any]:
        response = self.create(starts_at, **extra)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, path: str = "", **params: Any) -> Any:
        return self.client.get(f"/api/v1/bookings{path}", query_string=params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1/bookings{path}", json=body, headers=self.headers)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def salon(tenant: Any) -> Salon:
    return make_salon(tenant)


@pytest.fixture
def api(client: Any, salon: Salon) -> BookingsApi:
    return BookingsApi(client, salon)


@pytest.fixture
def emitted() -> Any:
    """Domain events emitted during the test, as (name, payload) pairs."""
    seen: list[tuple[str, dict[str, Any]]] = []
    names = [
        "booking.created", "booking.confirmed", "booking.rescheduled", "booking.cancelled",
        "booking.completed", "booking.no_show",
    ]  # fmt: skip
    handlers = {}
    for name in names:

        def handler(_name: str = name, **payload: Any) -> None:
            seen.append((_name, payload))

        handlers[name] = events.subscribe(name)(handler)
    yield seen
    for name, handler in handlers.items():
        events._handlers[name].remove(handler)
