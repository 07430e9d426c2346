"""Deposits and prepayment through Stripe, against localstripe, from booking to invoice."""

from __future__ import annotations

from tests.payments.conftest import drain, rows
from tests.plugins.localstripe import pay_intent, signed, stripe_client, stripe_event


def _intent(url: str, reference: str) -> dict:
    return stripe_client(url).v1.payment_intents.retrieve(reference).to_dict()


def _succeeded(configured, url: str, payment_id: str, **event_kwargs) -> dict:
    payment = configured.payment(payment_id)
    intent = pay_intent(url, payment["provider_reference"])
    body, headers = signed(stripe_event("payment_intent.succeeded", intent, **event_kwargs))
    answer = configured.stripe_webhook(body, headers)
    assert answer.status_code == 200, answer.get_json()
    drain()
    return intent


def test_a_public_booking_with_a_deposit_holds_its_slot_until_paid(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.cut)
    assert created["status"] == "pending"
    payment = created["payment"]
    assert payment["provider"] == "stripe"
    assert payment["status"] == "requires_payment"
    assert (payment["amount"], payment["currency"], payment["kind"]) == ("60.00", "MAD", "deposit")
    assert payment["client_secret"].startswith(payment["client_secret"].split("_secret_")[0])
    assert created["payment_due_at"] == "2027-05-03T09:15:00+01:00"  # now + 15 minutes
    assert created["payment_status"] == "unpaid"
    intent = _intent(url, configured.payment(payment["id"])["provider_reference"])
    assert intent["amount"] == 6000 and intent["currency"] == "mad"
    assert intent["metadata"]["payment_id"] == payment["id"]


def test_a_signed_success_confirms_the_booking_with_an_invoice_and_a_receipt(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.cut)
    _succeeded(configured, url, created["payment"]["id"])

    booking = configured.booking(created["id"])
    assert booking["status"] == "confirmed"
    assert booking["payment_status"] == "deposit_paid"
    assert (booking["amount_paid"], booking["amount_due"]) == ("60.00", "140.00")
    assert booking["payment_due_at"] is None
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "succeeded"
    invoices = configured.get("/invoices").get_json()
    assert [
        (i["number"], i["kind"], i["total"], i["tax"], i["total_excl_tax"]) for i in invoices
    ] == [("F2027-000001", "invoice", "60.00", "10.00", "50.00")]
    assert invoices[0]["issuer"]["ice"] == "001234567000089"
    events = {
        r.event
        for r in rows("SELECT event FROM notifications WHERE booking_id = :b", b=created["id"])
    }
    assert {"payment_receipt", "booking_confirmed"} <= events


def test_the_same_event_delivered_again_changes_nothing(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.cut)
    payment = configured.payment(created["payment"]["id"])
    intent = pay_intent(url, payment["provider_reference"])
    event = stripe_event("payment_intent.succeeded", intent)
    for _ in range(3):
        body, headers = signed(event)
        assert configured.stripe_webhook(body, headers).status_code == 200
    drain()
    assert len(configured.get("/invoices").get_json()) == 1
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 1


def test_a_full_prepayment_marks_the_booking_paid(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.color)
    assert created["payment"]["amount"] == "300.00"
    assert created["payment"]["kind"] == "full"
    _succeeded(configured, url, created["payment"]["id"])
    booking = configured.booking(created["id"])
    assert (booking["payment_status"], booking["amount_due"]) == ("paid", "0.00")


def test_a_service_without_online_payment_is_confirmed_at_once(configured):
    created = configured.booked(configured.salon.plain)
    assert created["status"] == "confirmed"
    assert "payment" not in created
    assert created["payment_status"] == "none"


def test_an_unconfigured_provider_books_nothing(api, providers):
    answer = api.public_book(api.salon.cut)
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "provider_not_configured"
    assert rows("SELECT count(*) AS n FROM bookings")[0].n == 0
