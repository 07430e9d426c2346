"""Payments test helpers: a salon with a deposit service, providers on local fakes, job draining."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from bookme.core import clock
from bookme.core.db import session
from tests.factories import make_service, make_staff, use_tenant
from tests.plugins.fake_paypal import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, FakePayPal
from tests.plugins.live import SalonApi
from tests.plugins.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET

# Monday 3 May 2027, 09:00 in Casablanca (UTC+1 outside Ramadan).
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
WEEK = {day: [("09:00", "13:00"), ("14:00", "18:00")] for day in range(1, 8)}
PHONE = "+212612345678"


def at(local: str) -> str:
    """A local Casablanca time on the test dates, as RFC 3339 (`"2027-05-04 10:00"`)."""
    day, time = local.split()
    return f"{day}T{time}:00+01:00"


@dataclass
class Salon:
    tenant: Any
    cut: Any  # 200.00 MAD, 30 % deposit
    color: Any  # 300.00 MAD, paid in full
    plain: Any  # 80.00 MAD, nothing online
    nadia: Any


class Api(SalonApi):
    """The HTTP API as one member of one tenant (the owner by default)."""

    salon: Salon

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", query_string=params, headers=self.headers)

    def post(self, path: str, body: Any = None, headers: Any = None) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            json=body if body is not None else {},
            headers={**self.headers, **(headers or {})},
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=body, headers=self.headers)

    def public_book(self, service: Any, starts_at: str = "2027-05-04 10:00", **extra: Any) -> Any:
        body = {
            "service_id": str(service.id),
            "staff_id": str(self.salon.nadia.id),
            "starts_at": at(starts_at),
            "customer": {"full_name": "Salma B.", "phone": PHONE, "locale": "fr"},
            **extra,
        }
        return self.client.post(
            "/api/v1/public/bookings", json=body, headers={"X-Tenant": self.salon.tenant.slug}
        )

    def booked(
        self, service: Any, starts_at: str = "2027-05-04 10:00", **extra: Any
    ) -> dict[str, Any]:
        answer = self.public_book(service, starts_at, **extra)
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    def staff_book(self, service: Any, starts_at: str = "2027-05-04 15:00") -> dict[str, Any]:
        answer = self.post(
            "/bookings",
            {
                "service_id": str(service.id),
                "staff_id": str(self.salon.nadia.id),
                "starts_at": at(starts_at),
                "customer": {"full_name": "Salma B.", "phone": PHONE},
            },
        )
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    def booking(self, booking_id: str) -> dict[str, Any]:
        answer = self.get(f"/bookings/{booking_id}")
        assert answer.status_code == 200
        return answer.get_json()

    def payment(self, payment_id: str) -> dict[str, Any]:
        answer = self.get(f"/payments/{payment_id}")
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    def stripe_webhook(self, body: str, headers: dict[str, str], slug: str | None = None) -> Any:
        return self.client.post(
            f"/webhooks/stripe/{slug or self.salon.tenant.slug}", data=body, headers=headers
        )

    def paypal_webhook(self, event: dict[str, Any], headers: dict[str, str]) -> Any:
        return self.client.post(
            f"/webhooks/paypal/{self.salon.tenant.slug}", data=json.dumps(event), headers=headers
        )


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def salon(tenant: Any) -> Salon:
    use_tenant(tenant)
    cut = make_service(
        name="Coupe",
        duration_minutes=30,
        price="200.00",
        slot_interval_minutes=30,
        min_notice_minutes=60,
    )
    color = make_service(
        name="Couleur",
        duration_minutes=60,
        price="300.00",
        slot_interval_minutes=30,
        min_notice_minutes=60,
    )
    plain = make_service(
        name="Brushing",
        duration_minutes=30,
        price="80.00",
        slot_interval_minutes=30,
        min_notice_minutes=60,
    )
    cut.payment = {"mode": "deposit", "deposit_percent": 30}
    color.payment = {"mode": "full"}
    session().commit()
    nadia = make_staff(services=[cut, color, plain], hours=WEEK, display_name="Nadia")
    return Salon(tenant, cut, color, plain, nadia)


@pytest.fixture
def api(client: Any, salon: Salon) -> Api:
    return Api(client, salon)


@pytest.fixture
def providers(
    app: Any, monkeypatch: pytest.MonkeyPatch, localstripe: str, fake_paypal: FakePayPal
) -> tuple[str, FakePayPal]:
    """STRIPE_API_BASE and PAYPAL_API_BASE pointed at the local fakes."""
    monkeypatch.setitem(
        app.config,
        "BOOKME",
        dataclasses.replace(
            app.config["BOOKME"], stripe_api_base=localstripe, paypal_api_base=fake_paypal.url
        ),
    )
    return localstripe, fake_paypal


STRIPE_SETTINGS = {
    "secret_key": SECRET_KEY,
    "publishable_key": PUBLISHABLE_KEY,
    "webhook_secret": WEBHOOK_SECRET,
}
PAYPAL_SETTINGS = {
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "webhook_id": WEBHOOK_ID,
    "currency": "EUR",
    "rate": "0.0920",
}


@pytest.fixture
def configured(api: Api, providers: tuple[str, FakePayPal]) -> Api:
    """Stripe and PayPal set up for the salon (MAD, PayPal charging EUR at 0.0920)."""
    answer = api.put(
        "/payment-settings",
        {
            "stripe": STRIPE_SETTINGS,
            "paypal": PAYPAL_SETTINGS,
            "legal_name": "Salon Test SARL",
            "address": "12 rue Atlas, Casablanca",
            "ice": "001234567000089",
            "tax_id": "12345678",
            "trade_register": "RC 98765",
            "invoice_prefix": "F",
        },
    )
    assert answer.status_code == 200, answer.get_json()
    return api


def drain(max_rounds: int = 10) -> list[Any]:
    """Run the queued payment jobs here, in the test's transaction, until none are left.

    Other modules' jobs (notification sends) are dropped: they are not what is tested here.
    """
    from bookme.core.tasks import queue

    q = queue()
    results = []
    for _ in range(max_rounds):
        jobs = q.jobs
        if not jobs:
            return results
        q.empty()
        for job in jobs:
            if job.func.__module__ == "bookme.payments.tasks":
                results.append(job.func(*job.args, **job.kwargs))
    raise AssertionError("jobs kept coming")


def rows(sql: str, **params: Any) -> list[Any]:
    return list(session().execute(sa.text(sql), params).all())
