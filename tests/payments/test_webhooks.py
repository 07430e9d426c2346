"""Provider webhooks: signature first, each event stored once, processed by the worker."""

from __future__ import annotations

import json
import time

import pytest

from tests.payments.conftest import drain, rows
from tests.plugins.localstripe import pay_intent, signed, stripe_event


def _paid_intent(configured, url):
    created = configured.booked(configured.salon.cut)
    payment = configured.payment(created["payment"]["id"])
    return created, pay_intent(url, payment["provider_reference"])


def test_a_valid_signature_is_recorded_and_processed_once(configured, providers):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    first = configured.stripe_webhook(body, headers)
    assert first.status_code == 200 and first.get_json() == {"received": True, "duplicate": False}
    again = configured.stripe_webhook(body, headers)
    assert again.get_json() == {"received": True, "duplicate": True}
    drain()
    event = rows("SELECT provider, type, processed_at, outcome FROM payment_webhook_events")
    assert [(e.provider, e.type, e.outcome) for e in event] == [
        ("stripe", "payment_intent.succeeded", "payment succeeded")
    ]
    assert configured.booking(created["id"])["status"] == "confirmed"


def test_a_tampered_body_is_refused_and_changes_nothing(configured, providers):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    tampered = body.replace('"succeeded"', '"succeeded" ', 1)
    answer = configured.stripe_webhook(tampered, headers)
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "invalid_signature"
    assert answer.mimetype == "application/problem+json"
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 0
    assert configured.booking(created["id"])["status"] == "pending"


def test_a_signature_older_than_five_minutes_is_refused(configured, providers):
    url, _ = providers
    _, intent = _paid_intent(configured, url)
    event = stripe_event("payment_intent.succeeded", intent)
    body, headers = signed(event, timestamp=int(time.time()) - 301)
    assert configured.stripe_webhook(body, headers).get_json()["code"] == "invalid_signature"
    body, headers = signed(event, timestamp=int(time.time()) - 200)
    assert configured.stripe_webhook(body, headers).status_code == 200


def test_a_missing_or_foreign_signature_is_refused(configured, providers):
    url, _ = providers
    _, intent = _paid_intent(configured, url)
    body, headers = signed(
        stripe_event("payment_intent.succeeded", intent), secret="whsec_other_secret"
    )
    assert configured.stripe_webhook(body, headers).status_code == 400
    answer = configured.stripe_webhook(body, {"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_signature"


def test_an_unknown_tenant_is_404(configured):
    body, headers = signed(stripe_event("payment_intent.succeeded", {"id": "pi_x"}))
    answer = configured.stripe_webhook(body, headers, slug="no-such-salon")
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "tenant_not_found"


@pytest.mark.parametrize("provider", ["stripe", "paypal"])
@pytest.mark.parametrize("slug", ["%00", "demo%00", "Demo", "-x-", "a", "x" * 64, "caf%C3%A9"])
def test_a_slug_no_tenant_can_have_is_404_not_a_500(client, db, provider, slug):
    # A NUL is refused by PostgreSQL's text type: the lookup must not send it at all.
    answer = client.post(
        f"/webhooks/{provider}/{slug}", data="{}", headers={"Stripe-Signature": "t=1,v1=a"}
    )
    assert answer.status_code == 404, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["code"] == "tenant_not_found"


def test_a_tenant_without_a_webhook_secret_refuses_every_event(api, providers):
    body, headers = signed(stripe_event("payment_intent.succeeded", {"id": "pi_x"}))
    assert api.stripe_webhook(body, headers).get_json()["code"] == "invalid_signature"


def test_unknown_event_types_answer_200_and_do_nothing(configured):
    body, headers = signed(stripe_event("customer.created", {"id": "cus_1"}))
    assert configured.stripe_webhook(body, headers).status_code == 200
    assert drain() == []
    assert rows("SELECT outcome FROM payment_webhook_events")[0].outcome.startswith("ignored")


def _signed_text(body):
    import stripe

    from tests.plugins.localstripe import WEBHOOK_SECRET

    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def test_signed_events_postgresql_could_not_store_as_sent_are_kept_once(configured):
    # NUL and lone surrogates (a customer's note can carry anything), NaN and numbers too
    # large for a float: signed as sent, stored as PostgreSQL can hold them, answered 200.
    bodies = [
        '{"id": "evt_nul", "type": "foo.bar", "x": "a\\u0000b"}',
        '{"id": "evt_surrogate", "type": "foo.bar", "x": "\\ud800", "\\udc00": 1}',
        '{"id": "evt_nan", "type": "foo.bar", "x": NaN, "y": -Infinity}',
        '{"id": "evt_huge", "type": "foo.bar", "x": 1e999999}',
    ]
    for body in bodies:
        answer = configured.stripe_webhook(body, _signed_text(body))
        assert answer.status_code == 200, (body, answer.get_json())
        again = configured.stripe_webhook(body, _signed_text(body))
        assert again.get_json() == {"received": True, "duplicate": True}
    stored = rows("SELECT event_id, payload FROM payment_webhook_events ORDER BY event_id")
    assert [(e.event_id, e.payload.get("x")) for e in stored] == [
        ("evt_huge", None), ("evt_nan", None), ("evt_nul", "a\ufffdb"),
        ("evt_surrogate", "\ufffd"),
    ]  # fmt: skip


def test_an_event_id_postgresql_could_not_keep_as_sent_is_refused(configured):
    # The id tells deliveries apart: "evt_a\0" and "evt_a\ud800" must not both become one.
    for body in (
        '{"id": "evt_a\\u0000", "type": "foo.bar"}',
        '{"id": "evt_a\\ud800", "type": "x"}',
    ):
        answer = configured.stripe_webhook(body, _signed_text(body))
        assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_json"
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 0


def test_a_replaced_webhook_secret_stops_verifying_at_once(configured):
    body, headers = signed(stripe_event("customer.created", {"id": "cus_1"}))
    assert configured.stripe_webhook(body, headers).status_code == 200  # the old secret, read
    changed = configured.put("/payment-settings", {"stripe": {"webhook_secret": "whsec_new_one"}})
    assert changed.status_code == 200, changed.get_json()
    body, headers = signed(stripe_event("customer.updated", {"id": "cus_1"}))
    answer = configured.stripe_webhook(body, headers)
    assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_signature"
    body, headers = signed(
        stripe_event("customer.updated", {"id": "cus_1"}), secret="whsec_new_one"
    )
    assert configured.stripe_webhook(body, headers).status_code == 200


def test_a_body_nested_too_deeply_is_refused(configured):
    body = '{"id": "evt_deep", "type": "foo.bar", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    answer = configured.stripe_webhook(body, _signed_text(body))
    assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_json"
    assert rows("SELECT count(*) AS n FROM payment_webhook_events")[0].n == 0


def test_a_failed_then_succeeded_intent_ends_succeeded(configured, providers):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    failed = {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"message": "Your card was declined."},
    }
    for event in (
        stripe_event("payment_intent.payment_failed", failed),
        stripe_event("payment_intent.succeeded", intent),
    ):
        body, headers = signed(event)
        configured.stripe_webhook(body, headers)
        drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "succeeded" and payment["failure_reason"] is None


def test_a_success_after_a_refund_does_not_unrefund(configured, providers):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    drain()
    refund = configured.post(f"/payments/{created['payment']['id']}/refunds", {})
    assert refund.status_code == 201 and refund.get_json()["status"] == "succeeded"
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))  # a new event id
    configured.stripe_webhook(body, headers)
    drain()
    assert configured.payment(created["payment"]["id"])["status"] == "refunded"
    assert configured.booking(created["id"])["payment_status"] == "refunded"
    assert len(configured.get("/invoices", kind="invoice").get_json()) == 1


def test_a_refund_made_at_stripe_is_recorded_once_with_its_credit_note(configured, providers):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    drain()
    refund = {
        "id": "re_dashboard1",
        "object": "refund",
        "amount": 2000,
        "status": "succeeded",
        "payment_intent": intent["id"],
        "metadata": {},
    }
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": intent["id"],
        "amount_refunded": 2000,
        "refunds": {"data": [refund]},
    }
    for event in (stripe_event("charge.refunded", charge), stripe_event("refund.updated", refund)):
        body, headers = signed(event)
        configured.stripe_webhook(body, headers)
        drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["status"] == "partially_refunded" and payment["amount_refunded"] == "20.00"
    assert [(r["origin"], r["status"]) for r in payment["refunds"]] == [("provider", "succeeded")]
    notes = configured.get("/invoices", kind="credit_note").get_json()
    assert [(n["number"], n["total"]) for n in notes] == [("FAV-2027-000001", "20.00")]


def test_a_pending_refund_is_settled_by_refund_updated(configured, providers, monkeypatch):
    url, _ = providers
    created, intent = _paid_intent(configured, url)
    body, headers = signed(stripe_event("payment_intent.succeeded", intent))
    configured.stripe_webhook(body, headers)
    drain()
    from bookme.payments import service
    from bookme.payments.providers import RefundOutcome

    # Reserve a refund as the API does, then let Stripe answer "pending" first.
    with monkeypatch.context() as patch:
        patch.setattr(service, "execute_refund", lambda **kw: "pending")
        refund = configured.post(
            f"/payments/{created['payment']['id']}/refunds", {"amount": "10.00"}
        )
    refund_id = refund.get_json()["id"]
    assert refund.get_json()["status"] == "pending"
    service.settle_refund(
        tenant=_tenant(configured),
        now=_now(),
        refund_id=_uuid(refund_id),
        outcome=RefundOutcome(status="pending", reference="re_pending1"),
    )
    event = stripe_event(
        "refund.updated",
        {
            "id": "re_pending1",
            "object": "refund",
            "amount": 1000,
            "status": "succeeded",
            "payment_intent": intent["id"],
            "metadata": {"refund_id": refund_id},
        },
    )
    body, headers = signed(event)
    configured.stripe_webhook(body, headers)
    drain()
    payment = configured.payment(created["payment"]["id"])
    assert payment["refunds"][0]["status"] == "succeeded"
    assert payment["amount_refunded"] == "10.00"


def test_the_webhooks_are_documented(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/webhooks/stripe/{tenant_slug}", "/webhooks/paypal/{tenant_slug}"):
        operation = spec["paths"][path]["post"]
        assert operation["tags"] == ["webhooks"]
        assert {"200", "400", "404"} <= set(operation["responses"])


def _tenant(api):
    from bookme.tenants.service import tenant_ref_by_slug

    return tenant_ref_by_slug(api.salon.tenant.slug)


def _now():
    from bookme.core import clock

    return clock.now()


def _uuid(value):
    import uuid

    return uuid.UUID(value)


def test_bodies_that_are_not_events_are_refused(configured):
    body = json.dumps([1, 2])
    import stripe

    from tests.plugins.localstripe import WEBHOOK_SECRET

    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    answer = configured.stripe_webhook(body, {"Stripe-Signature": header})
    assert answer.status_code == 400
