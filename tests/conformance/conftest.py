"""Black-box checks of API.md: helpers that speak to the app only as its clients do.

Everything here goes through HTTP (the Flask test client); the catalog is built with the
shared factories (tests/factories.py) because that is what they are for. `assert_problem`
states the RFC 9457 shape API.md fixes for every error under /api.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bookme.core import clock
from tests.plugins.live import MemberApi, Salon, make_salon

PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://bookme.ma/problems/"
PAGINATION_KEYS = {
    "total",
    "total_pages",
    "page",
    "first_page",
    "last_page",
    "previous_page",
    "next_page",
}
# RFC 3339 with an explicit numeric offset or Z.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LOCAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOCAL_TIME = re.compile(r"^\d{2}:\d{2}$")
MONEY = re.compile(r"^\d+\.\d{2}$")

# Monday 3 May 2027, 09:00 in Casablanca (UTC+1 outside Ramadan): the clock of booking tests.
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)


def at(local: str) -> str:
    """`"2027-05-04 10:00"` (Casablanca, UTC+1 in May) as RFC 3339."""
    day, time = local.split()
    return f"{day}T{time}:00+01:00"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem as API.md shows it: type, title, status, code (+ errors on 422)."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == PROBLEM, response.mimetype
    body = json.loads(text)
    assert body["type"] == PROBLEM_BASE + code
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status
    assert body["code"] == code
    if "detail" in body:
        assert isinstance(body["detail"], str)
    if code == "validation_error":
        assert isinstance(body["errors"], dict) and body["errors"]
        for messages in body["errors"].values():
            assert messages
    assert "Traceback" not in text and "<html" not in text.lower()
    return body


def is_uuid(value: Any) -> bool:
    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False


def pagination(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])


class Http(MemberApi):
    """The API as one caller: `as_(member)` switches who; `tenant=None` drops X-Tenant."""

    def _call(self, method: str, path: str, headers: Any = None, **kw: Any) -> Any:
        unprefixed = ("/api/", "/healthz", "/readyz", "/webhooks/", "/m/")
        url = path if path.startswith(unprefixed) else "/api/v1" + path
        merged = {**self.headers, **(headers or {})}
        return self.client.open(url, method=method, headers=merged, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._call("DELETE", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self._call(method, path, **kw)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    # bookings
    def booking_body(self, salon: Salon, starts_at: str = "2027-05-04 10:00", **extra: Any) -> Any:
        body: dict[str, Any] = {
            "service_id": str(salon.service.id),
            "staff_id": str(salon.nadia.id),
            "starts_at": at(starts_at),
            "customer": {"full_name": "Salma B.", "phone": "+212612345678"},
        }
        body.update(extra)
        return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def frozen() -> Any:
    with clock.frozen(NOW):
        yield NOW


@pytest.fixture
def http(client: Any, tenant: Any) -> Http:
    return Http(client, tenant)


@pytest.fixture
def salon(tenant: Any, frozen: Any) -> Salon:
    return make_salon(tenant)


@pytest.fixture
def run_jobs(app: Any, db: Any) -> Any:
    """Run the queued background jobs (mail) with a real RQ worker, in this process."""
    from rq import Queue, SimpleWorker

    def run() -> None:
        redis = app.extensions["bookme.redis"]
        queue = Queue(app.config["BOOKME"].rq_queue, connection=redis)
        ids = list(queue.job_ids)
        SimpleWorker([queue], connection=redis).work(burst=True)
        failed = [
            job_id for job_id in ids if (job := queue.fetch_job(job_id)) is None or job.is_failed
        ]
        assert not failed, f"jobs failed: {failed}"

    return run
