"""The periodic jobs: expiring holds and links, the sweep of lost jobs, the reconciliation."""

from __future__ import annotations

from datetime import timedelta

from bookme.core import clock, periodic
from bookme.payments import tasks
from tests.payments.conftest import drain, rows
from tests.plugins.localstripe import pay_intent, signed, stripe_client, stripe_event


def test_the_payment_jobs_are_registered_with_the_scheduler():
    jobs = {job.name: job for job in periodic.jobs()}
    assert jobs["payments.expire_holds"].every_seconds == 60
    assert jobs["payments.sweep"].every_seconds == 60
    assert jobs["payments.reconcile"].cron == "30 3 * * *"


def test_a_lost_webhook_job_is_enqueued_again_by_the_sweep(configured, providers):
    from bookme.core.tasks import queue

    url, _ = providers
    created = configured.booked(configured.salon.cut)
    intent = pay_intent(url, configured.payment(created["payment"]["id"])["provider_reference"])
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    queue().empty()  # Redis lost the job
    tasks.sweep()
    assert drain() == []  # not yet: the sweep waits a minute for the job it expects
    clock.advance(timedelta(minutes=2))
    tasks.sweep()
    assert drain() == ["payment succeeded"]
    assert configured.booking(created["id"])["status"] == "confirmed"


def test_a_lost_webhook_is_caught_by_the_reconciliation(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.cut)
    pay_intent(url, configured.payment(created["payment"]["id"])["provider_reference"])
    clock.advance(timedelta(minutes=16))  # past the hold, no webhook ever came
    tasks.reconcile()
    drain()
    assert configured.payment(created["payment"]["id"])["status"] == "succeeded"
    assert configured.booking(created["id"])["status"] == "confirmed"


def test_reconciliation_refunds_what_was_paid_for_an_expired_hold(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.cut)
    pay_intent(url, configured.payment(created["payment"]["id"])["provider_reference"])
    clock.advance(timedelta(minutes=16))
    tasks.expire_holds()
    drain()  # the remote cancel finds the intent already paid, and records it
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "refunded"
    assert configured.booking(created["id"])["status"] == "cancelled"
    tasks.reconcile()
    assert configured.payment(created["payment"]["id"])["refunds"] == payment["refunds"]


def test_reconciliation_captures_an_approved_paypal_order(configured, providers):
    _, fake = providers
    created = configured.booked(configured.salon.cut, payment_provider="paypal")
    payment = configured.payment(created["payment"]["id"])
    fake.approve(payment["provider_reference"])
    clock.advance(timedelta(minutes=16))
    tasks.reconcile()
    assert configured.payment(payment["id"])["status"] == "succeeded"


def test_an_expired_payment_link_on_a_confirmed_booking_is_cancelled(configured, providers):
    url, _ = providers
    booking = configured.staff_book(configured.salon.plain)
    opened = configured.post(
        f"/bookings/{booking['id']}/payments", {"provider": "stripe"}
    ).get_json()
    clock.advance(timedelta(minutes=16))
    tasks.expire_holds()
    drain()
    assert configured.payment(opened["id"])["status"] == "cancelled"
    after = configured.booking(booking["id"])
    assert (after["status"], after["payment_status"]) == ("confirmed", "unpaid")
    intent = stripe_client(url).v1.payment_intents.retrieve(opened["provider_reference"])
    assert intent.status == "canceled"


def test_a_failed_payment_is_cancelled_when_another_replaces_it(configured, providers):
    created = configured.booked(configured.salon.cut)
    failed = {
        "id": configured.payment(created["payment"]["id"])["provider_reference"],
        "object": "payment_intent",
        "status": "requires_payment_method",
        "metadata": {"payment_id": created["payment"]["id"]},
        "last_payment_error": {"message": "Your card was declined."},
    }
    body, headers = signed(stripe_event("payment_intent.payment_failed", failed))
    configured.stripe_webhook(body, headers)
    drain()
    assert configured.payment(created["payment"]["id"])["status"] == "failed"
    again = configured.client.post(
        f"/api/v1/public/bookings/{created['manage_token']}/pay", json={}
    )
    assert again.status_code == 200
    assert again.get_json()["id"] != created["payment"]["id"]
    assert again.get_json()["amount"] == "60.00"
    assert configured.payment(created["payment"]["id"])["status"] == "cancelled"
    assert rows("SELECT count(*) AS n FROM payments WHERE status = 'requires_payment'")[0].n == 1


def test_an_event_that_keeps_failing_is_left_after_twenty_attempts(configured):
    import sqlalchemy as sa

    from bookme.core.db import session
    from bookme.payments import service

    body, headers = signed(stripe_event("payment_intent.succeeded", {"id": "pi_nowhere"}))
    configured.stripe_webhook(body, headers)
    session().execute(sa.text("UPDATE payment_webhook_events SET attempts = 20"))
    clock.advance(timedelta(minutes=2))
    assert service.unprocessed_events(now=clock.now(), older_than=timedelta(minutes=1)) == []


def test_processed_events_are_forgotten_after_ninety_days(configured):
    body, headers = signed(stripe_event("customer.created", {"id": "cus_1"}))
    configured.stripe_webhook(body, headers)
    clock.advance(timedelta(days=89))
    tasks.reconcile()
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 1
    clock.advance(timedelta(days=2))
    tasks.reconcile()
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 0
