"""GET and PUT /payment-settings: merging, removal, write-only secrets, PayPal currency."""

from __future__ import annotations

import pytest

from bookme.core import crypto
from tests.conftest import add_member
from tests.payments.conftest import PAYPAL_SETTINGS, STRIPE_SETTINGS, rows
from tests.plugins.localstripe import SECRET_KEY, WEBHOOK_SECRET


def test_defaults_before_anything_is_set(api):
    body = api.get("/payment-settings").get_json()
    assert body["stripe"] == {
        "configured": False,
        "publishable_key": None,
        "secret_key_last4": None,
        "webhook_secret_configured": False,
    }
    assert body["paypal"]["configured"] is False
    assert body["hold_minutes"] == 15
    assert body["refund_policy"] == {"full_refund_hours_before": 24}
    assert body["tax_rate"] == "20.00"
    assert body["invoice_prefix"] == ""
    assert body["webhook_urls"]["stripe"].endswith(f"/webhooks/stripe/{api.salon.tenant.slug}")


def test_secrets_are_write_only_and_encrypted_at_rest(api):
    answer = api.put("/payment-settings", {"stripe": STRIPE_SETTINGS})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["stripe"] == {
        "configured": True,
        "publishable_key": STRIPE_SETTINGS["publishable_key"],
        "secret_key_last4": SECRET_KEY[-4:],
        "webhook_secret_configured": True,
    }
    text = answer.get_data(as_text=True)
    assert SECRET_KEY not in text and WEBHOOK_SECRET not in text
    stored = rows("SELECT stripe_secret_key, stripe_webhook_secret FROM payment_settings")[0]
    assert SECRET_KEY not in stored.stripe_secret_key
    assert crypto.decrypt(stored.stripe_secret_key) == SECRET_KEY
    assert crypto.decrypt(stored.stripe_webhook_secret) == WEBHOOK_SECRET


def test_put_merges_and_a_null_provider_is_removed(api):
    api.put("/payment-settings", {"stripe": STRIPE_SETTINGS, "paypal": PAYPAL_SETTINGS})
    answer = api.put(
        "/payment-settings", {"hold_minutes": 30, "stripe": {"publishable_key": "pk_test_new"}}
    )
    body = answer.get_json()
    assert body["hold_minutes"] == 30
    assert body["stripe"]["configured"] is True
    assert body["stripe"]["publishable_key"] == "pk_test_new"
    assert body["paypal"]["configured"] is True
    assert (body["paypal"]["currency"], body["paypal"]["rate"]) == ("EUR", "0.092")
    body = api.put("/payment-settings", {"paypal": None}).get_json()
    assert body["paypal"]["configured"] is False and body["paypal"]["client_id"] is None
    assert body["stripe"]["configured"] is True


def test_a_mad_business_must_give_paypal_a_currency_and_a_rate(api):
    given = {k: v for k, v in PAYPAL_SETTINGS.items() if k not in ("currency", "rate")}
    answer = api.put("/payment-settings", {"paypal": given})
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "validation_error"
    assert "currency" in answer.get_json()["errors"]["paypal"]
    answer = api.put("/payment-settings", {"paypal": {**given, "currency": "USD"}})
    assert answer.status_code == 422
    assert "rate" in answer.get_json()["errors"]["paypal"]
    answer = api.put("/payment-settings", {"paypal": {**given, "currency": "MAD", "rate": "1"}})
    assert answer.status_code == 422
    assert api.get("/payment-settings").get_json()["paypal"]["configured"] is False


def test_stripe_needs_its_secret_key(api):
    answer = api.put("/payment-settings", {"stripe": {"webhook_secret": WEBHOOK_SECRET}})
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {"stripe": {"secret_key": ["Required to set up Stripe."]}}


@pytest.mark.parametrize(
    "body",
    [
        {"hold_minutes": 0},
        {"hold_minutes": 1441},
        {"tax_rate": "20.005"},
        {"tax_rate": "100"},
        {"ice": "12345"},
        {"stripe": {"secret_key": "pk_wrong_kind_of_key"}},
        {"refund_policy": {}},
        {"invoice_prefix": "F 2027"},
        {"paypal": {"rate": "-1"}},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused_field_by_field(api, body):
    answer = api.put("/payment-settings", body)
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "validation_error"


def test_issuer_fields_and_policy_are_kept(api):
    body = api.put(
        "/payment-settings",
        {
            "legal_name": "Salon SARL",
            "address": "Casablanca",
            "ice": "001234567000089",
            "tax_id": "1234",
            "trade_register": "RC 1",
            "invoice_prefix": "SAL-",
            "tax_rate": "10.00",
            "refund_policy": {"full_refund_hours_before": 48},
        },
    ).get_json()
    assert (body["legal_name"], body["ice"], body["invoice_prefix"]) == (
        "Salon SARL",
        "001234567000089",
        "SAL-",
    )
    assert body["tax_rate"] == "10.00"
    assert body["refund_policy"] == {"full_refund_hours_before": 48}


def test_only_owners_and_managers_reach_the_settings(api):
    staff = add_member(api.salon.tenant, "staff")
    assert api.as_(staff).get("/payment-settings").status_code == 403
    assert api.as_(staff).put("/payment-settings", {"hold_minutes": 5}).status_code == 403
    manager = add_member(api.salon.tenant, "manager")
    assert api.as_(manager).put("/payment-settings", {"hold_minutes": 5}).status_code == 200


def test_a_service_takes_a_payment_mode(api):
    created = api.post("/services", {"name": "Soin", "duration_minutes": 30, "price": "100.00"})
    assert created.get_json()["payment"] == {
        "mode": "none",
        "deposit_amount": None,
        "deposit_percent": None,
    }
    service_id = created.get_json()["id"]
    answer = api.client.patch(
        f"/api/v1/services/{service_id}",
        headers=api.headers,
        json={"payment": {"mode": "deposit", "deposit_amount": "25.00"}},
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["payment"] == {
        "mode": "deposit",
        "deposit_amount": "25.00",
        "deposit_percent": None,
    }
    for bad in (
        {"mode": "deposit"},
        {"mode": "full", "deposit_percent": 10},
        {"mode": "deposit", "deposit_percent": 0},
        {"mode": "later"},
    ):
        answer = api.client.patch(
            f"/api/v1/services/{service_id}", headers=api.headers, json={"payment": bad}
        )
        assert answer.status_code == 422, bad


def test_a_fixed_deposit_is_never_more_than_the_price(api):
    body = {"name": "Soin", "duration_minutes": 30, "price": "100.00"}
    refused = api.post(
        "/services", {**body, "payment": {"mode": "deposit", "deposit_amount": "100.01"}}
    )
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {
        "payment": {"deposit_amount": ["More than the service's price."]}
    }
    created = api.post(
        "/services", {**body, "payment": {"mode": "deposit", "deposit_amount": "100.00"}}
    )
    assert created.status_code == 201, created.get_json()
    url = f"/api/v1/services/{created.get_json()['id']}"
    cheaper = api.client.patch(url, headers=api.headers, json={"price": "99.00"})
    assert cheaper.status_code == 422
    assert list(cheaper.get_json()["errors"]) == ["price"]
    both = api.client.patch(
        url,
        headers=api.headers,
        json={"price": "99.00", "payment": {"mode": "deposit", "deposit_amount": "30.00"}},
    )
    assert both.status_code == 200, both.get_json()


def test_a_paypal_client_secret_is_long_enough_to_stay_hidden(api):
    # Reads show its last four characters: a shorter secret would be shown whole.
    settings = {**PAYPAL_SETTINGS, "client_secret": "abcd"}
    answer = api.put("/payment-settings", {"paypal": settings})
    assert answer.status_code == 422
    assert "client_secret" in answer.get_json()["errors"]["paypal"]
