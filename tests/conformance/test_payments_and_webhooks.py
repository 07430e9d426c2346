"""The error codes of the payments and webhook rows of API.md, and money on bookings."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from tests.conformance.conftest import MONEY, RFC3339, assert_problem, at


def test_booking_money_fields_are_decimal_strings(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    for field in ("price", "amount_paid", "amount_due"):
        assert MONEY.match(booking[field]), (field, booking[field])


def test_a_refund_larger_than_what_remains_is_422_refund_exceeds_payment(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    payment = http.ok(
        "POST",
        f"/bookings/{booking['id']}/payments",
        201,
        json={"provider": "cash", "amount": "50.00"},
    )
    assert payment["amount"] == "50.00"
    assert payment["status"] == "succeeded"
    response = http.post(f"/payments/{payment['id']}/refunds", {"amount": "50.01"})
    assert_problem(response, 422, "refund_exceeds_payment")
    refund = http.ok("POST", f"/payments/{payment['id']}/refunds", 201, json={})
    assert refund["amount"] == "50.00"
    response = http.post(f"/payments/{payment['id']}/refunds", {"amount": "0.01"})
    assert_problem(response, 422, "refund_exceeds_payment")


def test_a_public_booking_asking_an_unconfigured_provider_is_422_and_books_nothing(
    client, http, salon
):
    http.ok("PATCH", f"/services/{salon.service.id}", json={"payment": {"mode": "full"}})
    response = client.post(
        "/api/v1/public/bookings",
        json=http.booking_body(salon),
        headers={"X-Tenant": salon.tenant.slug},
    )
    assert_problem(response, 422, "provider_not_configured")
    assert http.get("/bookings").get_json() == []


@pytest.mark.parametrize("provider", ["stripe", "paypal"])
def test_a_provider_webhook_without_a_valid_signature_is_400_invalid_signature(
    client, tenant, provider
):
    response = client.post(
        f"/webhooks/{provider}/{tenant.slug}",
        data='{"id": "evt_1", "type": "payment_intent.succeeded"}',
        content_type="application/json",
        headers={"Stripe-Signature": "t=1,v1=deadbeef"} if provider == "stripe" else {},
    )
    assert_problem(response, 400, "invalid_signature")


@pytest.mark.parametrize("provider", ["stripe", "paypal"])
def test_a_provider_webhook_for_an_unknown_tenant_is_404_tenant_not_found(client, db, provider):
    response = client.post(
        f"/webhooks/{provider}/no-such-tenant", data="{}", content_type="application/json"
    )
    assert_problem(response, 404, "tenant_not_found")


@pytest.mark.parametrize("path", ["/webhooks/twilio/status", "/webhooks/twilio/inbound"])
def test_a_twilio_webhook_without_a_valid_signature_is_400_invalid_signature(client, db, path):
    response = client.post(
        path,
        data={
            "MessageSid": "SM1",
            "MessageStatus": "delivered",
            "From": "+212612345678",
            "To": "+212500000000",
            "Body": "OUI",
        },
        headers={"X-Twilio-Signature": "bad"},
    )
    assert_problem(response, 400, "invalid_signature")


def test_invoice_instants_carry_the_tenants_offset(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    http.ok(
        "POST",
        f"/bookings/{booking['id']}/payments",
        201,
        json={"provider": "cash", "amount": "80.00"},
    )
    text = http.get("/invoices").get_data(as_text=True)
    instants = re.findall(r'"(\d{4}-\d{2}-\d{2}T[^"]+)"', text)
    assert instants
    assert [i for i in instants if not i.endswith("+01:00")] == []


# --- a pending booking (online payment) and its lifecycle ---------------------------------------


@pytest.fixture
def stripe_ready(app, http, salon, localstripe, monkeypatch):
    """Stripe set up for the salon (on the local fake) and the service paid in full online."""
    from tests.plugins.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET

    monkeypatch.setitem(
        app.config,
        "BOOKME",
        dataclasses.replace(app.config["BOOKME"], stripe_api_base=localstripe),
    )
    http.ok(
        "PUT",
        "/payment-settings",
        json={
            "stripe": {
                "secret_key": SECRET_KEY,
                "publishable_key": PUBLISHABLE_KEY,
                "webhook_secret": WEBHOOK_SECRET,
            }
        },
    )
    http.ok("PATCH", f"/services/{salon.service.id}", json={"payment": {"mode": "full"}})
    return salon


def _pending(client, http, salon, starts_at="2027-05-04 10:00"):
    response = client.post(
        "/api/v1/public/bookings",
        json=http.booking_body(salon, starts_at),
        headers={"X-Tenant": salon.tenant.slug},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_prepaid_public_booking_is_pending_with_its_payment(client, http, stripe_ready):
    booking = _pending(client, http, stripe_ready)
    assert booking["status"] == "pending"
    payment = booking["payment"]
    assert {"id", "provider", "amount", "currency", "status", "client_secret"} <= set(payment)
    assert (payment["provider"], payment["amount"], payment["currency"]) == (
        "stripe",
        "80.00",
        "MAD",
    )
    assert payment["status"] == "requires_payment"
    assert RFC3339.match(booking["payment_due_at"])
    assert booking["payment_due_at"].endswith("+01:00")


def test_pending_goes_to_confirmed(client, http, stripe_ready):
    booking = _pending(client, http, stripe_ready)
    for action in ("complete", "no-show"):
        response = http.post(f"/bookings/{booking['id']}/{action}")
        assert_problem(response, 409, "invalid_transition")
    confirmed = http.ok("POST", f"/bookings/{booking['id']}/confirm")
    assert confirmed["status"] == "confirmed"


def test_pending_goes_to_cancelled(client, http, stripe_ready):
    booking = _pending(client, http, stripe_ready)
    cancelled = http.ok("POST", f"/bookings/{booking['id']}/cancel", json={"reason": "x"})
    assert cancelled["status"] == "cancelled"


def test_a_pending_booking_may_be_rescheduled(client, http, stripe_ready):
    booking = _pending(client, http, stripe_ready)
    moved = http.ok(
        "POST", f"/bookings/{booking['id']}/reschedule", json={"starts_at": at("2027-05-04 12:00")}
    )
    assert moved["status"] == "pending"
    assert moved["starts_at"] == at("2027-05-04 12:00")


# --- Stripe webhook deliveries --------------------------------------------------------------------


def _deliver(client, salon, event, timestamp):
    from tests.plugins.localstripe import signed

    body, headers = signed(event, timestamp=timestamp)
    return client.post(f"/webhooks/stripe/{salon.tenant.slug}", data=body, headers=headers)


def test_an_unknown_stripe_event_type_answers_200_and_again_200(client, stripe_ready):
    from tests.plugins.localstripe import stripe_event

    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    now = int(time.time())  # the signature's tolerance is checked against the real clock
    first = _deliver(client, stripe_ready, event, now)
    again = _deliver(client, stripe_ready, event, now)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert again.status_code == 200, again.get_data(as_text=True)


def test_a_stripe_signature_older_than_5_minutes_is_400_invalid_signature(client, stripe_ready):
    from tests.plugins.localstripe import stripe_event

    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = _deliver(client, stripe_ready, event, int(time.time()) - 6 * 60)
    assert_problem(response, 400, "invalid_signature")
