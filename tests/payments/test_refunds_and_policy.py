"""Cash at the counter, refunds by hand and by policy, expiring holds, late payments."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bookme.core import clock
from tests.conftest import add_member
from tests.payments.conftest import drain, rows
from tests.plugins.localstripe import pay_intent, signed, stripe_event


def _paid(configured, url, service=None, starts_at="2027-05-04 10:00"):
    created = configured.booked(service or configured.salon.cut, starts_at)
    payment = configured.payment(created["payment"]["id"])
    intent = pay_intent(url, payment["provider_reference"])
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    assert configured.stripe_webhook(body, headers).status_code == 200
    drain()
    return created


# --- cash ---------------------------------------------------------------------------------------


def test_cash_at_the_counter_is_paid_at_once_with_its_invoice(api):
    booking = api.staff_book(api.salon.plain)
    answer = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "50.00"}
    )
    assert answer.status_code == 201, answer.get_json()
    payment = answer.get_json()
    assert (payment["provider"], payment["status"], payment["amount"], payment["kind"]) == (
        "cash",
        "succeeded",
        "50.00",
        "deposit",
    )
    after = api.booking(booking["id"])
    assert (after["payment_status"], after["amount_paid"], after["amount_due"]) == (
        "deposit_paid",
        "50.00",
        "30.00",
    )
    balance = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "30.00"}
    )
    assert balance.get_json()["kind"] == "balance"
    assert api.booking(booking["id"])["payment_status"] == "paid"
    numbers = [i["number"] for i in api.get("/invoices").get_json()]
    assert numbers == ["2027-000001", "2027-000002"]


def test_the_cash_201_is_the_payment_as_get_shows_it(api):
    booking = api.staff_book(api.salon.plain)
    answer = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "50.00"}
    )
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    shown = api.payment(created["id"])
    assert shown.pop("refunds") == []
    assert created == shown
    for name in ("provider_reference", "failure_reason", "expires_at", "charged_amount"):
        assert created[name] is None
    assert created["exchange_rate"] is None


def test_any_member_records_cash_for_any_booking(api):
    booking = api.staff_book(api.salon.plain)  # Nadia's, not this staff member's
    staff = api.as_(add_member(api.salon.tenant, "staff"))
    answer = staff.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    )
    assert answer.status_code == 201, answer.get_json()
    assert api.booking(booking["id"])["payment_status"] == "paid"
    # Access still comes before the body: an unknown booking is 404 whatever it holds.
    unknown = staff.post(f"/bookings/{uuid.uuid4()}/payments", {"nonsense": True})
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "not_found"
    # Refunds stay with owners and managers.
    payment_id = answer.get_json()["id"]
    assert staff.post(f"/payments/{payment_id}/refunds", {}).status_code == 403


def test_cash_beyond_what_is_due_is_refused(api):
    booking = api.staff_book(api.salon.plain)
    answer = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.01"}
    )
    assert answer.status_code == 422
    answer = api.post(f"/bookings/{booking['id']}/payments", {"provider": "cash"})
    assert answer.status_code == 422 and "amount" in answer.get_json()["errors"]


def test_cash_is_refunded_by_staff_at_once_with_a_credit_note(api):
    booking = api.staff_book(api.salon.plain)
    payment = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    refund = api.post(f"/payments/{payment['id']}/refunds", {"amount": "30.00", "reason": "geste"})
    assert refund.status_code == 201
    assert (refund.get_json()["status"], refund.get_json()["amount"]) == ("succeeded", "30.00")
    detail = api.payment(payment["id"])
    assert (detail["status"], detail["amount_refunded"]) == ("partially_refunded", "30.00")
    rest = api.post(f"/payments/{payment['id']}/refunds", {})
    assert rest.get_json()["amount"] == "50.00"
    assert api.payment(payment["id"])["status"] == "refunded"
    assert api.booking(booking["id"])["payment_status"] == "refunded"
    notes = api.get("/invoices", kind="credit_note").get_json()
    assert [(n["number"], n["total"], n["tax"]) for n in notes] == [
        ("AV-2027-000001", "30.00", "5.00"),
        ("AV-2027-000002", "50.00", "8.33"),
    ]
    # Each document's tax comes out of its own total (here they happen to add up).
    invoice = api.get("/invoices", kind="invoice").get_json()[0]
    assert invoice["tax"] == "13.33"
    exceeded = api.post(f"/payments/{payment['id']}/refunds", {"amount": "0.01"})
    assert exceeded.status_code == 422
    assert exceeded.get_json()["code"] == "refund_exceeds_payment"


def test_a_refund_larger_than_what_remains_is_refused(api):
    booking = api.staff_book(api.salon.plain)
    payment = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    answer = api.post(f"/payments/{payment['id']}/refunds", {"amount": "80.01"})
    assert answer.status_code == 422 and answer.get_json()["code"] == "refund_exceeds_payment"


@pytest.mark.parametrize("amount", ["0", "0.00"])
def test_a_zero_refund_is_a_validation_error_not_an_excess(api, amount):
    booking = api.staff_book(api.salon.plain)
    payment = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    answer = api.post(f"/payments/{payment['id']}/refunds", {"amount": amount})
    assert answer.status_code == 422 and answer.get_json()["code"] == "validation_error"
    assert "amount" in answer.get_json()["errors"]
    assert api.payment(payment["id"])["amount_refunded"] == "0.00"


def test_the_same_idempotency_key_answers_the_same_refund(api):
    booking = api.staff_book(api.salon.plain)
    payment = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    key = {"Idempotency-Key": "refund-1"}
    first = api.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"}, headers=key)
    again = api.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert api.payment(payment["id"])["amount_refunded"] == "10.00"
    other = api.post(f"/payments/{payment['id']}/refunds", {"amount": "20.00"}, headers=key)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"


def _cash_payment(api, starts_at="2027-05-04 15:00"):
    booking = api.staff_book(api.salon.plain, starts_at)
    answer = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_an_idempotency_key_reused_on_another_payment_is_422(api):
    first, second = _cash_payment(api), _cash_payment(api, "2027-05-04 16:00")
    key = {"Idempotency-Key": "refund-2"}
    body = {"amount": "10.00"}
    assert api.post(f"/payments/{first['id']}/refunds", body, headers=key).status_code == 201
    other = api.post(f"/payments/{second['id']}/refunds", body, headers=key)
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    assert api.payment(second["id"])["amount_refunded"] == "0.00"
    assert api.payment(first["id"])["amount_refunded"] == "10.00"


def test_an_idempotency_key_used_for_a_booking_is_not_reused_for_a_refund(api):
    key = {"Idempotency-Key": "shared-key"}
    booked = api.post(
        "/bookings",
        {
            "service_id": str(api.salon.plain.id),
            "staff_id": str(api.salon.nadia.id),
            "starts_at": "2027-05-04T15:00:00+01:00",
            "customer": {"full_name": "Salma B.", "phone": "+212612345678"},
        },
        headers=key,
    )
    assert booked.status_code == 201
    payment = api.post(
        f"/bookings/{booked.get_json()['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    refund = api.post(f"/payments/{payment['id']}/refunds", {}, headers=key)
    assert refund.status_code == 422 and refund.get_json()["code"] == "idempotency_key_reused"
    assert api.payment(payment["id"])["amount_refunded"] == "0.00"


def test_refund_idempotency_keys_are_scoped_to_the_caller(api):
    payment = _cash_payment(api)
    manager = api.as_(add_member(api.salon.tenant, "manager"))
    key = {"Idempotency-Key": "same-key"}
    first = api.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"}, headers=key)
    again = manager.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] != again.get_json()["id"]
    assert api.payment(payment["id"])["amount_refunded"] == "20.00"


def test_a_refund_key_in_progress_is_409_and_refunds_nothing(api):
    from bookme.bookings import idempotency
    from bookme.payments import service

    payment = _cash_payment(api)
    request = service.refund_request(payment_id=uuid.UUID(payment["id"]), amount=1000, reason=None)
    claim = idempotency.begin(
        scope=f"user:{api.salon.tenant.owner.user_id}",
        key="refund-3",
        digest=idempotency.fingerprint(service.REFUND_OPERATION, request),
        now=clock.now(),
    )
    assert isinstance(claim, idempotency.Claim)
    key = {"Idempotency-Key": "refund-3"}
    busy = api.post(f"/payments/{payment['id']}/refunds", {"amount": "10.00"}, headers=key)
    assert busy.status_code == 409 and busy.get_json()["code"] == "idempotency_in_progress"
    assert api.payment(payment["id"])["amount_refunded"] == "0.00"


def test_a_refused_refund_is_replayed_for_its_key(api):
    payment = _cash_payment(api)
    key = {"Idempotency-Key": "refund-4"}
    too_much = api.post(f"/payments/{payment['id']}/refunds", {"amount": "90.00"}, headers=key)
    assert too_much.status_code == 422
    assert too_much.get_json()["code"] == "refund_exceeds_payment"
    again = api.post(f"/payments/{payment['id']}/refunds", {"amount": "90.00"}, headers=key)
    assert (again.status_code, again.get_json()) == (422, too_much.get_json())


def test_staff_may_not_refund(api):
    booking = api.staff_book(api.salon.plain)
    payment = api.post(
        f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"}
    ).get_json()
    staff = add_member(api.salon.tenant, "staff")
    assert api.as_(staff).post(f"/payments/{payment['id']}/refunds", {}).status_code == 403
    assert api.as_(staff).get("/payments").status_code == 403


def test_payments_are_listed_with_filters(api):
    booking = api.staff_book(api.salon.plain)
    api.post(f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "80.00"})
    listed = api.get("/payments", booking_id=booking["id"], provider="cash").get_json()
    assert len(listed) == 1
    assert api.get("/payments", provider="stripe").get_json() == []
    assert api.get("/payments", status="bogus").status_code == 422


# --- online refunds -----------------------------------------------------------------------------


def test_an_online_refund_goes_through_stripe(configured, providers):
    url, _ = providers
    created = _paid(configured, url)
    answer = configured.post(f"/payments/{created['payment']['id']}/refunds", {"amount": "20.00"})
    assert answer.status_code == 201
    refund = answer.get_json()
    assert refund["status"] == "succeeded" and refund["provider_reference"].startswith("re_")
    assert configured.booking(created["id"])["amount_paid"] == "40.00"


# --- the refund policy on cancellation ----------------------------------------------------------


def test_the_business_cancelling_refunds_online_payments_in_full(configured, providers):
    url, _ = providers
    created = _paid(configured, url)
    answer = configured.post(f"/bookings/{created['id']}/cancel", {"reason": "closed"})
    assert answer.status_code == 200
    drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "refunded"
    assert [(r["origin"], r["status"], r["amount"]) for r in payment["refunds"]] == [
        ("policy", "succeeded", "60.00")
    ]
    assert configured.booking(created["id"])["payment_status"] == "refunded"


def test_a_customer_cancelling_early_enough_is_refunded(configured, providers):
    url, _ = providers
    created = _paid(configured, url, starts_at="2027-05-10 10:00")
    answer = configured.client.post(
        f"/api/v1/public/bookings/{created['manage_token']}/cancel", json={}
    )
    assert answer.status_code == 200, answer.get_json()
    drain()
    assert configured.payment(created["payment"]["id"])["status"] == "refunded"


def test_a_customer_cancelling_late_keeps_the_deposit_with_the_business(configured, providers):
    url, _ = providers
    configured.put("/payment-settings", {"refund_policy": {"full_refund_hours_before": 48}})
    created = _paid(configured, url, starts_at="2027-05-04 15:00")  # 30 hours ahead
    answer = configured.client.post(
        f"/api/v1/public/bookings/{created['manage_token']}/cancel", json={}
    )
    assert answer.status_code == 200, answer.get_json()
    drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "succeeded" and payment["refunds"] == []
    assert configured.booking(created["id"])["payment_status"] == "deposit_paid"


def test_a_no_show_keeps_the_deposit(configured, providers):
    url, _ = providers
    created = _paid(configured, url)
    clock.advance(timedelta(days=1, hours=3))
    assert configured.post(f"/bookings/{created['id']}/no-show").status_code == 200
    drain()
    assert configured.payment(created["payment"]["id"])["status"] == "succeeded"


def test_rescheduling_a_paid_booking_never_asks_again(configured, providers):
    url, _ = providers
    created = _paid(configured, url)
    answer = configured.post(
        f"/bookings/{created['id']}/reschedule", {"starts_at": "2027-05-05T11:00:00+01:00"}
    )
    assert answer.status_code == 200
    after = answer.get_json()
    assert (after["status"], after["payment_status"], after["payment_due_at"]) == (
        "confirmed",
        "deposit_paid",
        None,
    )
    assert len(configured.get("/payments", booking_id=created["id"]).get_json()) == 1


# --- holds --------------------------------------------------------------------------------------


def test_an_expired_hold_is_cancelled_and_its_intent_too(configured, providers):
    from bookme.payments import tasks

    url, _ = providers
    created = configured.booked(configured.salon.cut)
    clock.advance(timedelta(minutes=16))
    tasks.expire_holds()
    drain()
    booking = configured.booking(created["id"])
    assert (booking["status"], booking["cancellation_reason"]) == ("cancelled", "payment_expired")
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "cancelled"
    from tests.plugins.localstripe import stripe_client

    intent = stripe_client(url).v1.payment_intents.retrieve(payment["provider_reference"])
    assert intent.status == "canceled"


def test_an_expired_hold_never_blocks_the_slot(configured, providers):
    first = configured.booked(configured.salon.cut)
    clock.advance(timedelta(minutes=16))
    slots = configured.client.get(
        "/api/v1/public/availability",
        headers={"X-Tenant": configured.salon.tenant.slug},
        query_string={
            "service_id": str(configured.salon.cut.id),
            "from": "2027-05-04",
            "to": "2027-05-04",
        },
    ).get_json()["slots"]
    assert "2027-05-04T10:00:00+01:00" in [s["starts_at"] for s in slots]
    second = configured.booked(configured.salon.cut)
    assert second["id"] != first["id"]
    assert configured.booking(first["id"])["cancellation_reason"] == "payment_expired"
    assert configured.payment(first["payment"]["id"])["status"] == "cancelled"


def test_a_payment_after_its_hold_expired_is_refunded_in_full(configured, providers):
    from bookme.payments import tasks

    url, _ = providers
    created = configured.booked(configured.salon.cut)
    payment = configured.payment(created["payment"]["id"])
    intent = pay_intent(url, payment["provider_reference"])  # paid, but the webhook is late
    clock.advance(timedelta(minutes=16))
    tasks.expire_holds()
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "refunded"
    assert [(r["origin"], r["status"]) for r in payment["refunds"]] == [
        ("late_payment", "succeeded")
    ]
    assert configured.booking(created["id"])["status"] == "cancelled"
    kinds = sorted(i["kind"] for i in configured.get("/invoices").get_json())
    assert kinds == ["credit_note", "invoice"]


def test_paying_after_the_hold_passed_is_refused(configured, providers):
    created = configured.booked(configured.salon.cut)
    clock.advance(timedelta(minutes=16))
    answer = configured.client.post(
        f"/api/v1/public/bookings/{created['manage_token']}/pay", json={"provider": "stripe"}
    )
    assert answer.status_code == 409 and answer.get_json()["code"] == "invalid_transition"


# --- the customer's side ------------------------------------------------------------------------


def test_the_manage_link_shows_payments_and_what_is_due(configured, providers):
    created = configured.booked(configured.salon.cut)
    view = configured.client.get(f"/api/v1/public/bookings/{created['manage_token']}").get_json()
    assert view["amount_due"] == "200.00"
    assert view["payment_due_at"] == "2027-05-03T09:15:00+01:00"
    assert [(p["provider"], p["status"], p["amount"]) for p in view["payments"]] == [
        ("stripe", "requires_payment", "60.00")
    ]


def test_the_pay_link_returns_the_open_payment(configured, providers):
    created = configured.booked(configured.salon.cut)
    pay = f"/api/v1/public/bookings/{created['manage_token']}/pay"
    answer = configured.client.post(pay, json={"provider": "stripe"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["id"] == created["payment"]["id"]
    assert answer.get_json()["client_secret"] == created["payment"]["client_secret"]


def test_switching_to_paypal_replaces_the_open_payment_with_the_same_deposit(configured, providers):
    created = configured.booked(configured.salon.cut)
    pay = f"/api/v1/public/bookings/{created['manage_token']}/pay"
    answer = configured.client.post(pay, json={"provider": "paypal"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["provider"], body["amount"], body["kind"]) == ("paypal", "60.00", "deposit")
    assert (body["charged_amount"], body["charged_currency"]) == ("5.52", "EUR")
    assert body["approval_url"].startswith(providers[1].url)
    assert configured.payment(created["payment"]["id"])["status"] == "cancelled"
    again = configured.client.post(pay, json={"provider": "paypal"})
    assert again.get_json()["id"] == body["id"]


def test_staff_open_an_online_payment_for_the_balance(configured, providers):
    url, _ = providers
    created = _paid(configured, url)
    answer = configured.post(f"/bookings/{created['id']}/payments", {"provider": "stripe"})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["amount"], body["kind"], body["status"]) == (
        "140.00",
        "balance",
        "requires_payment",
    )
    intent = pay_intent(url, configured.payment(body["id"])["provider_reference"])
    event, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(event, headers)
    drain()
    assert configured.booking(created["id"])["payment_status"] == "paid"


def test_a_cancelled_booking_takes_no_payment(configured, providers):
    booking = configured.staff_book(configured.salon.plain)
    configured.post(f"/bookings/{booking['id']}/cancel", {})
    answer = configured.post(f"/bookings/{booking['id']}/payments", {"provider": "stripe"})
    assert answer.status_code == 409


def test_an_unreachable_provider_answers_502_and_records_nothing(api, app, monkeypatch):
    import dataclasses

    monkeypatch.setitem(
        app.config,
        "BOOKME",
        dataclasses.replace(app.config["BOOKME"], stripe_api_base="http://127.0.0.1:9"),
    )
    from tests.payments.conftest import STRIPE_SETTINGS

    api.put("/payment-settings", {"stripe": STRIPE_SETTINGS})
    answer = api.public_book(api.salon.cut)
    assert answer.status_code == 502
    assert answer.get_json()["code"] == "provider_error"
    assert rows("SELECT count(*) AS n FROM bookings")[0].n == 0
    assert rows("SELECT count(*) AS n FROM payments")[0].n == 0


def test_cash_at_the_counter_cancels_a_pay_link_for_more_than_is_left(configured, providers):
    booking = configured.staff_book(configured.salon.plain)
    link = configured.post(f"/bookings/{booking['id']}/payments", {"provider": "stripe"}).get_json()
    assert link["amount"] == "80.00"
    configured.post(f"/bookings/{booking['id']}/payments", {"provider": "cash", "amount": "30.00"})
    assert configured.payment(link["id"])["status"] == "cancelled"
    drain()


def test_an_online_payment_racing_the_counter_gives_back_the_excess(configured, providers):
    url, _ = providers
    created = configured.booked(configured.salon.color)  # 300.00 prepaid online
    intent = pay_intent(url, configured.payment(created["payment"]["id"])["provider_reference"])
    # Meanwhile the customer also paid 100.00 in cash (the hold keeps the link open).
    from bookme.payments import service
    from tests.payments.test_webhooks import _tenant

    service._record_cash(
        tenant=_tenant(configured),
        actor=_system_actor(),
        now=clock.now(),
        booking_id=_uuid(created["id"]),
        amount=10000,
    )
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    drain()
    payment = configured.payment(created["payment"]["id"])
    assert (payment["status"], payment["amount_refunded"]) == ("partially_refunded", "100.00")
    booking = configured.booking(created["id"])
    assert (booking["amount_paid"], booking["payment_status"]) == ("300.00", "paid")


def _system_actor():
    from bookme.users.access import SYSTEM

    return SYSTEM


def _uuid(value):
    import uuid

    return uuid.UUID(value)


def test_no_transaction_is_open_while_a_provider_is_called(configured, providers, monkeypatch):
    from bookme.core.db import session
    from bookme.payments.providers import paypal, stripe

    seen: list[tuple[str, bool]] = []

    def watch(cls, name):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            seen.append((f"{cls.__name__}.{name}", session().in_transaction()))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    for cls, names in ((stripe.Stripe, ("open", "refund")), (paypal.PayPal, ("open", "capture"))):
        for name in names:
            watch(cls, name)
    url, fake = providers
    created = _paid(configured, url)  # opens a PaymentIntent with the booking
    configured.post(f"/payments/{created['payment']['id']}/refunds", {"amount": "10.00"})
    other = configured.booked(configured.salon.cut, "2027-05-04 11:00", payment_provider="paypal")
    order = configured.payment(other["payment"]["id"])["provider_reference"]
    fake.approve(order)
    configured.client.post(
        f"/api/v1/public/payments/{other['payment']['id']}/paypal/capture",
        headers={"X-Tenant": configured.salon.tenant.slug},
    )
    assert [name for name, _ in seen] == [
        "Stripe.open",
        "Stripe.refund",
        "PayPal.open",
        "PayPal.capture",
    ]
    assert [name for name, open_ in seen if open_] == []


def test_the_refund_endpoint_documents_its_idempotency_errors(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/payments/{payment_id}/refunds"]["post"]
    responses = operation["responses"]
    assert "idempotency_in_progress" in responses["409"]["description"]
    for code in ("idempotency_key_reused", "refund_exceeds_payment", "validation_error"):
        assert code in responses["422"]["description"]
    for status in ("409", "422"):
        content = responses[status]["content"]
        assert list(content) == ["application/problem+json"]
    header = [p for p in operation["parameters"] if p.get("name") == "Idempotency-Key"]
    assert header and header[0]["in"] == "header"
    assert header[0]["schema"]["maxLength"] == 255
