"""Races with real commits: a real server process (gunicorn, 2 processes of 8 threads), threads
released together, separate connections; the tenant is committed for the module and dropped
afterwards. Webhook jobs are run here on threads, each with its own app context and session.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.bookings.live import CommittedTenant
from tests.payments.conftest import STRIPE_SETTINGS
from tests.plugins.live import committed_tenant, race, serving
from tests.plugins.localstripe import pay_intent, signed, stripe_event

ALL_DAY = {day: [("00:00", "24:00")] for day in range(1, 8)}


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    """These tests run on the real clock: the server process has no other."""
    yield


@dataclasses.dataclass
class Live:
    app: Any
    base: str
    tenant: CommittedTenant
    stripe_url: str
    deposit_service: uuid.UUID
    plain_service: uuid.UUID
    staff: list[uuid.UUID]
    day: date = dataclasses.field(
        default_factory=lambda: datetime.now(UTC).date() + timedelta(days=3)
    )
    phones: Iterator[int] = dataclasses.field(default_factory=lambda: iter(range(10_000)))

    def slot(self, index: int) -> datetime:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return start + timedelta(minutes=30 * index)

    def schema_rows(self, sql: str, **params: Any) -> list[Any]:
        from bookme.extensions import db

        with db.engine.connect() as conn:
            return list(
                conn.execute(sa.text(sql.replace("{s}", f'"{self.tenant.schema}"')), params)
            )


@pytest.fixture(scope="module")
def live(app: Any, localstripe: str) -> Iterator[Live]:
    from bookme.core import tenancy
    from bookme.extensions import db
    from bookme.payments import service as payments
    from bookme.users.access import SYSTEM
    from tests.factories import make_service, make_staff

    original = app.config["BOOKME"]
    app.config["BOOKME"] = dataclasses.replace(original, stripe_api_base=localstripe)
    try:
        with committed_tenant(
            app, slug_prefix="pay", name="Pay race", owner_name="Pay Owner"
        ) as tenant:
            deposit = make_service(
                name="Coupe",
                duration_minutes=30,
                price="200.00",
                slot_interval_minutes=30,
                min_notice_minutes=0,
                max_advance_days=365,
            )
            deposit.payment = {"mode": "deposit", "deposit_percent": 30}
            plain = make_service(
                name="Brushing",
                duration_minutes=30,
                price="80.00",
                slot_interval_minutes=30,
                min_notice_minutes=0,
                max_advance_days=365,
            )
            db.session.commit()
            staff = [
                make_staff(services=[deposit, plain], hours=ALL_DAY, display_name=f"Staff {n}").id
                for n in range(3)
            ]
            payments.update_payment_settings(
                tenant=tenancy.require(),
                actor=SYSTEM,
                now=datetime.now(UTC),
                data={"stripe": STRIPE_SETTINGS},
            )
            ids = (deposit.id, plain.id)
            with serving(app) as base:
                yield Live(app, base, tenant, localstripe, ids[0], ids[1], staff)
    finally:
        app.config["BOOKME"] = original


def _in_app(live: Live, fn: Callable[[], Any]) -> Callable[[int, Any], Any]:
    def run(_: int, __: Any) -> Any:
        from bookme.extensions import db

        with live.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    return run


def _public_booking(live: Live, index: int) -> dict[str, Any]:
    """A public booking of the deposit service, committed by this process's app (which reaches
    localstripe; the server process is only given what every test server gets)."""
    from bookme.extensions import db

    with live.app.app_context():
        try:
            answer = live.app.test_client().post(
                "/api/v1/public/bookings",
                json={
                    "service_id": str(live.deposit_service),
                    "staff_id": str(live.staff[0]),
                    "starts_at": live.slot(index).isoformat(),
                    "customer": {"full_name": "Racer", "phone": f"+2126100{next(live.phones):05d}"},
                },
                headers={"X-Tenant": live.tenant.slug},
            )
        finally:
            db.session.remove()
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def _run_jobs_concurrently(live: Live, events: list[str]) -> list[Any]:
    from bookme.payments import tasks

    return race(
        len(events),
        lambda i, http: _in_app(
            live, lambda: tasks.process_webhook_event(tenant=live.tenant.slug, event=events[i])
        )(i, http),
    )


def _payment_of(live: Live, booking_id: str) -> Any:
    return live.schema_rows("SELECT * FROM {s}.payments WHERE booking_id = :b", b=booking_id)


def test_the_same_webhook_delivered_five_times_at_once_pays_once(live):
    booking = _public_booking(live, 2)
    payment = _payment_of(live, booking["id"])[0]
    intent = pay_intent(live.stripe_url, payment.provider_reference)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    url = f"{live.base}/webhooks/stripe/{live.tenant.slug}"
    answers = race(5, lambda i, http: http.post(url, data=body, headers=headers, timeout=30))
    assert [a.status_code for a in answers] == [200] * 5
    assert Counter(a.json()["duplicate"] for a in answers) == {True: 4, False: 1}
    stored = live.schema_rows("SELECT id FROM {s}.payment_webhook_events")
    assert len(stored) == 1
    # Even if the job were enqueued five times, it applies once.
    outcomes = _run_jobs_concurrently(live, [str(stored[0].id)] * 5)
    assert sorted(outcomes) == ["done"] * 4 + ["payment succeeded"]
    after = _payment_of(live, booking["id"])[0]
    assert after.status == "succeeded"
    assert (
        live.schema_rows("SELECT status FROM {s}.bookings WHERE id = :b", b=booking["id"])[0].status
        == "confirmed"
    )
    invoices = live.schema_rows("SELECT number FROM {s}.invoices WHERE payment_id = :p", p=after.id)
    assert len(invoices) == 1
    receipts = live.schema_rows(
        "SELECT count(DISTINCT channel) AS n, count(*) AS total FROM {s}.notifications"
        " WHERE booking_id = :b AND event = 'payment_receipt'",
        b=booking["id"],
    )[0]
    assert receipts.total == receipts.n  # at most one receipt per channel


def test_five_distinct_success_events_for_one_payment_apply_once(live):
    booking = _public_booking(live, 4)
    payment = _payment_of(live, booking["id"])[0]
    intent = pay_intent(live.stripe_url, payment.provider_reference)
    deliveries = [signed(stripe_event("payment_intent.succeeded", intent)) for _ in range(5)]
    url = f"{live.base}/webhooks/stripe/{live.tenant.slug}"
    answers = race(
        5,
        lambda i, http: http.post(url, data=deliveries[i][0], headers=deliveries[i][1], timeout=30),
    )
    assert all(a.json() == {"received": True, "duplicate": False} for a in answers)
    events = [
        str(r.id)
        for r in live.schema_rows(
            "SELECT id FROM {s}.payment_webhook_events WHERE processed_at IS NULL"
        )
    ]
    assert len(events) == 5
    _run_jobs_concurrently(live, events)
    assert _payment_of(live, booking["id"])[0].status == "succeeded"
    assert (
        len(live.schema_rows("SELECT 1 FROM {s}.invoices WHERE payment_id = :p", p=payment.id)) == 1
    )
    assert (
        len(
            live.schema_rows(
                "SELECT 1 FROM {s}.booking_events WHERE booking_id = :b AND type = 'confirmed'",
                b=booking["id"],
            )
        )
        == 1
    )


def _staff_booking(live: Live, index: int, staff: int = 1) -> dict[str, Any]:
    answer = requests.post(
        f"{live.base}/api/v1/bookings",
        json={
            "service_id": str(live.plain_service),
            "staff_id": str(live.staff[staff]),
            "starts_at": live.slot(index).isoformat(),
            "customer": {"full_name": "Racer", "phone": f"+2126200{next(live.phones):05d}"},
        },
        headers=live.tenant.headers(),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _paid_in_cash(live: Live, booking: dict[str, Any]) -> dict[str, Any]:
    """80.00 MAD taken at the counter for `booking`: the payment."""
    answer = requests.post(
        f"{live.base}/api/v1/bookings/{booking['id']}/payments",
        json={"provider": "cash", "amount": "80.00"},
        headers=live.tenant.headers(),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_ten_simultaneous_full_refunds_refund_once(live):
    paid = _paid_in_cash(live, _staff_booking(live, 6))
    url = f"{live.base}/api/v1/payments/{paid['id']}/refunds"
    answers = race(
        10, lambda i, http: http.post(url, json={}, headers=live.tenant.headers(), timeout=30)
    )
    assert Counter(a.status_code for a in answers) == {201: 1, 422: 9}
    assert {a.json()["code"] for a in answers if a.status_code == 422} == {"refund_exceeds_payment"}
    row = live.schema_rows(
        "SELECT status, amount_refunded FROM {s}.payments WHERE id = :p", p=paid["id"]
    )[0]
    assert (row.status, row.amount_refunded) == ("refunded", 8000)
    notes = live.schema_rows(
        "SELECT total FROM {s}.invoices WHERE payment_id = :p AND kind = 'credit_note'",
        p=paid["id"],
    )
    assert [n.total for n in notes] == [8000]


def test_ten_simultaneous_partial_refunds_never_exceed_the_payment(live):
    paid = _paid_in_cash(live, _staff_booking(live, 8))
    url = f"{live.base}/api/v1/payments/{paid['id']}/refunds"
    answers = race(
        10,
        lambda i, http: http.post(
            url, json={"amount": "15.00"}, headers=live.tenant.headers(), timeout=30
        ),
    )
    assert Counter(a.status_code for a in answers) == {201: 5, 422: 5}
    row = live.schema_rows("SELECT amount_refunded FROM {s}.payments WHERE id = :p", p=paid["id"])[
        0
    ]
    assert row.amount_refunded == 7500


def test_fifty_payments_at_once_get_fifty_consecutive_invoice_numbers(live):
    bookings = [_staff_booking(live, 10 + i, staff=2) for i in range(25)]
    bookings += [_staff_booking(live, 10 + i, staff=1) for i in range(25)]
    before = {
        r.sequence
        for r in live.schema_rows("SELECT sequence FROM {s}.invoices WHERE kind = 'invoice'")
    }
    answers = race(
        50,
        lambda i, http: http.post(
            f"{live.base}/api/v1/bookings/{bookings[i]['id']}/payments",
            json={"provider": "cash", "amount": "80.00"},
            headers=live.tenant.headers(),
            timeout=60,
        ),
    )
    assert Counter(a.status_code for a in answers) == {201: 50}, [
        a.text for a in answers if a.status_code != 201
    ][:3]
    rows = live.schema_rows(
        "SELECT number, sequence, year FROM {s}.invoices WHERE kind = 'invoice'"
    )
    new = sorted(r.sequence for r in rows if r.sequence not in before)
    assert len(new) == 50
    assert new == list(range(new[0], new[0] + 50))
    everything = sorted(r.sequence for r in rows)
    assert everything == list(range(1, len(everything) + 1))  # no gap anywhere
    assert all(r.number == f"{r.year}-{r.sequence:06d}" for r in rows)
