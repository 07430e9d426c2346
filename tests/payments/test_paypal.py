"""PayPal Orders v2 against the local fake: approve, capture, EUR at the fixed rate, webhooks."""

from __future__ import annotations

import uuid

from tests.payments.conftest import drain, rows


def _paypal_booking(configured):
    created = configured.booked(configured.salon.cut, payment_provider="paypal")
    payment = configured.payment(created["payment"]["id"])
    return created, payment


def _capture(configured, payment_id):
    return configured.client.post(
        f"/api/v1/public/payments/{payment_id}/paypal/capture",
        headers={"X-Tenant": configured.salon.tenant.slug},
    )


def test_a_paypal_booking_charges_euros_at_the_fixed_rate(configured, providers):
    _, fake = providers
    created, payment = _paypal_booking(configured)
    view = created["payment"]
    assert (view["provider"], view["amount"], view["currency"]) == ("paypal", "60.00", "MAD")
    assert (view["charged_amount"], view["charged_currency"], view["exchange_rate"]) == (
        "5.52",
        "EUR",
        "0.092",
    )
    assert view["approval_url"] == f"{fake.url}/checkoutnow?token={payment['provider_reference']}"
    order = fake.orders[payment["provider_reference"]]
    assert order["purchase_units"][0]["amount"] == {"currency_code": "EUR", "value": "5.52"}
    assert order["purchase_units"][0]["custom_id"] == payment["id"]


def test_every_paypal_write_carries_a_request_id(configured, providers):
    _, fake = providers
    _created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    _capture(configured, payment["id"])
    configured.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"})
    writes = [w for w in fake.writes if w[1] != "/v1/notifications/verify-webhook-signature"]
    assert len(writes) == 3
    assert all(request_id for _, _, request_id in writes)
    assert writes[1][2] == f"bookme-capture-{payment['id']}"


def test_capture_after_approval_confirms_and_is_idempotent(configured, providers):
    _, fake = providers
    created, payment = _paypal_booking(configured)
    not_yet = _capture(configured, payment["id"])
    assert not_yet.status_code == 502 and not_yet.get_json()["code"] == "provider_error"
    fake.approve(payment["provider_reference"])
    first = _capture(configured, payment["id"])
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "succeeded"
    again = _capture(configured, payment["id"])
    assert again.status_code == 200 and again.get_json()["status"] == "succeeded"
    assert configured.booking(created["id"])["status"] == "confirmed"
    assert len(configured.get("/invoices").get_json()) == 1


def test_a_pending_capture_is_not_counted_as_paid(configured, providers):
    _, fake = providers
    created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    fake.capture_status = "PENDING"
    answer = _capture(configured, payment["id"])
    assert answer.get_json()["status"] == "processing"
    assert configured.booking(created["id"])["status"] == "pending"
    assert configured.get("/invoices").get_json() == []


def test_a_denied_capture_fails_the_payment(configured, providers):
    _, fake = providers
    created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    fake.capture_status = "DECLINED"
    assert _capture(configured, payment["id"]).get_json()["status"] == "failed"
    assert configured.booking(created["id"])["status"] == "pending"


def test_order_approved_webhook_captures_on_the_worker(configured, providers):
    _, fake = providers
    created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    event = {
        "id": f"WH-{uuid.uuid4().hex}",
        "event_type": "CHECKOUT.ORDER.APPROVED",
        "resource": fake.orders[payment["provider_reference"]],
    }
    answer = configured.paypal_webhook(event, fake.sign(event))
    assert answer.status_code == 200, answer.get_json()
    drain()
    assert configured.payment(payment["id"])["status"] == "succeeded"
    assert configured.booking(created["id"])["status"] == "confirmed"


def test_capture_completed_webhook_records_success_once(configured, providers):
    _, fake = providers
    _created, payment = _paypal_booking(configured)
    capture = {
        "id": "CAPTURE1",
        "status": "COMPLETED",
        "custom_id": payment["id"],
        "amount": {"currency_code": "EUR", "value": "5.52"},
    }
    event = {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": capture}
    for _ in range(2):
        assert configured.paypal_webhook(event, fake.sign(event)).status_code == 200
    drain()
    assert configured.payment(payment["id"])["status"] == "succeeded"
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 1


def test_a_tampered_or_unsigned_paypal_event_is_refused(configured, providers):
    _, fake = providers
    _, payment = _paypal_booking(configured)
    event = {
        "id": "WH-2",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {"id": "C2", "status": "COMPLETED", "custom_id": payment["id"]},
    }
    headers = fake.sign(event)
    tampered = {**event, "resource": {**event["resource"], "id": "C3"}}
    answer = configured.paypal_webhook(tampered, headers)
    assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_signature"
    answer = configured.paypal_webhook(event, {"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert (
        configured.paypal_webhook(event, fake.sign(event, webhook_id="WH-OTHER")).status_code == 400
    )
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 0


def test_paypal_down_during_verification_answers_503(configured, providers):
    _, fake = providers
    event = {"id": "WH-3", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}
    headers = fake.sign(event)
    fake.fail_next = 5
    answer = configured.paypal_webhook(event, headers)
    assert answer.status_code == 503


def test_a_paypal_refund_goes_back_in_euros(configured, providers):
    _, fake = providers
    _created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    _capture(configured, payment["id"])
    first = configured.post(f"/payments/{payment['id']}/refunds", {"amount": "30.00"})
    assert first.get_json()["status"] == "succeeded", first.get_json()
    rest = configured.post(f"/payments/{payment['id']}/refunds", {})
    assert rest.get_json()["amount"] == "30.00"
    sent = [r["amount"] for r in fake.refunds.values()]
    assert sorted(a["value"] for a in sent) == ["2.76", "2.76"]
    assert {a["currency_code"] for a in sent} == {"EUR"}
    assert configured.payment(payment["id"])["status"] == "refunded"


def test_a_refund_made_at_paypal_is_recorded_from_its_webhook(configured, providers):
    _, fake = providers
    _created, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    _capture(configured, payment["id"])
    capture_id = fake.orders[payment["provider_reference"]]["purchase_units"][0]["payments"][
        "captures"
    ][0]["id"]
    refund = {
        "id": "PPREF1",
        "status": "COMPLETED",
        "amount": {"currency_code": "EUR", "value": "5.52"},
        "links": [{"rel": "up", "href": f"{fake.url}/v2/payments/captures/{capture_id}"}],
    }
    event = {"id": "WH-4", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": refund}
    configured.paypal_webhook(event, fake.sign(event))
    drain()
    detail = configured.payment(payment["id"])
    assert (detail["status"], detail["amount_refunded"]) == ("refunded", "60.00")


def test_a_refund_the_provider_rejects_ends_failed_and_frees_the_amount(configured, providers):
    _, fake = providers
    _, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    _capture(configured, payment["id"])
    fake.refund_status = "FAILED"
    answer = configured.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"})
    assert answer.status_code == 201
    refund = answer.get_json()
    assert refund["status"] == "failed" and refund["failure_reason"]
    fake.refund_status = "COMPLETED"
    again = configured.post(f"/payments/{payment['id']}/refunds", {})
    assert (again.get_json()["status"], again.get_json()["amount"]) == ("succeeded", "60.00")
    assert configured.get("/invoices", kind="credit_note").get_json()[0]["total"] == "60.00"


def test_a_refund_while_paypal_is_down_stays_pending_until_the_sweep(configured, providers):
    from datetime import timedelta

    from bookme.core import clock
    from bookme.payments import tasks

    _, fake = providers
    _, payment = _paypal_booking(configured)
    fake.approve(payment["provider_reference"])
    _capture(configured, payment["id"])
    fake.fail_next = 1
    answer = configured.post(f"/payments/{payment['id']}/refunds", {})
    assert answer.status_code == 201 and answer.get_json()["status"] == "pending"
    assert drain() == []  # nothing queued: the request sent it; the sweep retries what stalls
    remaining = configured.post(f"/payments/{payment['id']}/refunds", {"amount": "0.01"})
    assert remaining.get_json()["code"] == "refund_exceeds_payment"  # the pending one counts
    clock.advance(timedelta(minutes=3))
    tasks.sweep()
    assert drain() == ["succeeded"]
    assert configured.payment(payment["id"])["status"] == "refunded"
    assert len(fake.refunds) == 1  # the retry carried the same PayPal-Request-Id
