"""Communications test helpers: a salon, providers pointed at local servers, job draining."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bookme.communications.models import Notification
from bookme.core import clock
from bookme.core.db import session
from tests.factories import make_service, make_staff, use_tenant
from tests.plugins.fake_twilio import FakeTwilio
from tests.plugins.smtp import SmtpGuard, SmtpServer

# Monday 3 May 2027, 09:00 in Casablanca (UTC+1).
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
WEEK = {day: [("09:00", "13:00"), ("14:00", "18:00")] for day in range(1, 8)}
SMS_FROM = "+212522000000"
WHATSAPP_FROM = "+14155238886"
PHONE = "+212612345678"
EMAIL = "salma@example.com"


@dataclass
class Salon:
    tenant: Any
    service: Any
    nadia: Any


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def salon(tenant: Any) -> Salon:
    use_tenant(tenant)
    service = make_service(
        name="Coupe brushing",
        duration_minutes=45,
        price="150.00",
        slot_interval_minutes=15,
        min_notice_minutes=30,
        max_advance_days=60,
    )
    nadia = make_staff(services=[service], hours=WEEK, display_name="Nadia")
    return Salon(tenant, service, nadia)


@pytest.fixture
def providers(
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    fake_twilio: FakeTwilio,
    smtp_server: SmtpServer,
    smtp_guard: SmtpGuard,
) -> Iterator[tuple[FakeTwilio, SmtpServer]]:
    """Twilio (the local fake) and SMTP (aiosmtpd) configured for this test."""
    monkeypatch.setitem(
        app.config,
        "BOOKME",
        dataclasses.replace(
            app.config["BOOKME"],
            twilio_account_sid=fake_twilio.account_sid,
            twilio_auth_token=fake_twilio.auth_token,
            twilio_sms_from=SMS_FROM,
            twilio_whatsapp_from=WHATSAPP_FROM,
            twilio_api_base=fake_twilio.url,
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_tls="none",
            mail_from="Salon Test <bookings@bookme.test>",
        ),
    )
    smtp_guard.allow(smtp_server)
    smtp_server.clear()
    fake_twilio.clock = clock.now  # messages stamped on the test's clock, as lookups expect
    yield fake_twilio, smtp_server
    smtp_server.clear()


class Api:
    """The HTTP API as the salon's owner."""

    def __init__(self, client: Any, salon: Salon) -> None:
        self.client = client
        self.salon = salon

    @property
    def headers(self) -> dict[str, str]:
        return self.salon.tenant.headers()

    def book(self, starts_at: str = "2027-05-04T10:00:00+01:00", **customer: Any) -> dict[str, Any]:
        person = {"full_name": "Salma Bennani", "phone": PHONE, "locale": "fr", **customer}
        response = self.client.post(
            "/api/v1/bookings",
            json={
                "service_id": str(self.salon.service.id),
                "staff_id": str(self.salon.nadia.id),
                "starts_at": starts_at,
                "customer": {k: v for k, v in person.items() if v is not None},
            },
            headers=self.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", query_string=params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def api(client: Any, salon: Salon) -> Api:
    return Api(client, salon)


def rows(booking_id: Any = None, **filters: Any) -> list[Notification]:
    """The outbox as the database holds it, oldest first."""
    stmt = sa.select(Notification).execution_options(populate_existing=True)
    if booking_id is not None:
        stmt = stmt.where(Notification.booking_id == uuid.UUID(str(booking_id)))
    for name, value in filters.items():
        stmt = stmt.where(getattr(Notification, name) == value)
    return list(
        session().scalars(stmt.order_by(Notification.created_at, Notification.scheduled_for))
    )


def due(notification_id: Any) -> Any:
    return (
        session()
        .execute(
            sa.text("SELECT kind, due_at FROM public.notification_due WHERE notification_id = :id"),
            {"id": uuid.UUID(str(notification_id))},
        )
        .first()
    )


def drain(max_rounds: int = 20) -> int:
    """Run the queued RQ jobs here, in the test's transaction, until the queue is empty.

    Returns how many messages the send jobs handed to a provider.
    """
    from bookme.communications.tasks import send_notifications
    from bookme.core.tasks import queue

    q = queue()
    sent = 0
    for _ in range(max_rounds):
        jobs = q.jobs
        if not jobs:
            return sent
        q.empty()
        for job in jobs:
            result = job.func(*job.args, **job.kwargs)
            if job.func is send_notifications:
                sent += result
    raise AssertionError("jobs kept coming")


def work() -> None:
    """Run the queued RQ jobs with a real worker (`SimpleWorker`, burst mode, in this process,
    so in the test's transaction), as `python -m bookme.worker worker` would; no dispatcher."""
    from rq import SimpleWorker

    from bookme.core.tasks import queue

    q = queue()
    ids = list(q.job_ids)
    SimpleWorker([q], connection=q.connection).work(burst=True)
    failed = [i for i in ids if (job := q.fetch_job(i)) is None or not job.is_finished]
    assert ids and not failed, f"jobs {ids}, not finished: {failed}"


def tick() -> int:
    """One dispatcher tick at the frozen clock's now, then run what it enqueued (→ sent)."""
    from bookme.communications.delivery import dispatch

    dispatch(now=clock.now())
    return drain()


def sign(url: str, form: dict[str, str], token: str) -> str:
    return RequestValidator(token).compute_signature(url, form)
