"""Payments in the admin: cash at the counter and refunds from a booking's page, and the
payment settings (providers, holds, refund policy, invoice issuer)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, flash, request, url_for
from flask_babel import gettext as _

from bookme.admin import auth, blp
from bookme.admin.forms import CashPaymentForm, PaymentSettingsForm, RefundForm
from bookme.admin.views.common import (
    ctx,
    describe,
    form_page,
    load,
    put_errors,
    see_other,
    svc,
)
from bookme.core import errors
from bookme.payments import service as payments
from bookme.payments.schemas import (
    PaymentCreateSchema,
    PaymentSettingsUpdateSchema,
    RefundCreateSchema,
)


@blp.route("/bookings/<uuid:booking_id>/payments", methods=["POST"])
@auth.requires()
def booking_cash_payment(booking_id: uuid.UUID) -> Response:
    """Cash paid at the counter (any member, as in the API)."""
    form = CashPaymentForm()
    back = url_for("admin.booking", booking_id=booking_id)
    if not form.validate_on_submit():
        flash(_("Enter the amount paid."), "error")
        return see_other(back)
    try:
        data = load(PaymentCreateSchema(), {"provider": "cash", "amount": form.amount.data})
        payments.create_payment(**svc(), booking_id=booking_id, data=data)
    except errors.BookMeError as exc:
        if exc.status in (403, 404):
            raise
        flash(describe(exc) + _messages(exc), "error")
    else:
        flash(_("Cash payment recorded."), "success")
    return see_other(back)


@blp.route("/payments/<uuid:payment_id>/refund", methods=["POST"])
@auth.requires("payments.refund")
def payment_refund(payment_id: uuid.UUID) -> Response:
    found = payments.get_payment(tenant=ctx().tenant, actor=ctx().actor, payment_id=payment_id)
    back = url_for("admin.booking", booking_id=found["booking_id"])
    form = RefundForm()
    if not form.validate_on_submit():
        flash(_("The refund form is not valid."), "error")
        return see_other(back)
    try:
        payload = {
            k: v for k, v in {"amount": form.amount.data, "reason": form.reason.data}.items() if v
        }
        refund = payments.refund_payment(
            **svc(), payment_id=payment_id, data=load(RefundCreateSchema(), payload)
        )
    except errors.BookMeError as exc:
        if exc.status in (403, 404):
            raise
        flash(describe(exc) + _messages(exc), "error")
    else:
        if refund.status == "failed":
            flash(_("The refund failed: %(why)s", why=refund.failure_reason or ""), "error")
        elif refund.status == "pending":
            flash(_("Refund sent to the provider; it will be confirmed shortly."), "success")
        else:
            flash(_("Refund recorded."), "success")
    return see_other(back)


def _messages(error: errors.BookMeError) -> str:
    flat = [str(m) for messages in (error.errors or {}).values() for m in _list(messages)]
    return (" " + " ".join(flat)) if flat else ""


def _list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _list(v)]
    return list(value) if isinstance(value, list | tuple) else [value]


# --- settings -----------------------------------------------------------------------------------


def _fill(form: PaymentSettingsForm, current: dict[str, Any]) -> None:
    form.hold_minutes.data = current["hold_minutes"]
    form.full_refund_hours_before.data = current["refund_policy"]["full_refund_hours_before"]
    form.tax_rate.data = f"{current['tax_rate']:.2f}"
    for name in ("legal_name", "address", "ice", "tax_id", "trade_register", "invoice_prefix"):
        getattr(form, name).data = current[name]
    form.stripe_publishable_key.data = current["stripe"]["publishable_key"]
    paypal = current["paypal"]
    form.paypal_client_id.data = paypal["client_id"]
    form.paypal_webhook_id.data = paypal["webhook_id"]
    form.paypal_currency.data = paypal["currency"] or ""
    form.paypal_rate.data = f"{paypal['rate']:f}" if paypal["rate"] is not None else None


def _payload(form: PaymentSettingsForm, current: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "hold_minutes": form.hold_minutes.data,
        "refund_policy": {"full_refund_hours_before": form.full_refund_hours_before.data},
        "tax_rate": form.tax_rate.data,
        "legal_name": form.legal_name.data,
        "address": form.address.data,
        "ice": form.ice.data,
        "tax_id": form.tax_id.data,
        "trade_register": form.trade_register.data,
        "invoice_prefix": form.invoice_prefix.data or "",
    }
    if form.stripe_remove.data:
        data["stripe"] = None
    else:
        stripe = {
            "publishable_key": form.stripe_publishable_key.data,
            "secret_key": form.stripe_secret_key.data,
            "webhook_secret": form.stripe_webhook_secret.data,
        }
        stripe = {k: v for k, v in stripe.items() if v}  # empty secrets: keep the stored ones
        if stripe:
            data["stripe"] = stripe
    if form.paypal_remove.data:
        data["paypal"] = None
    else:
        paypal: dict[str, Any] = {
            "client_id": form.paypal_client_id.data,
            "client_secret": form.paypal_client_secret.data,
            "webhook_id": form.paypal_webhook_id.data,
        }
        paypal = {k: v for k, v in paypal.items() if v}
        if paypal or current["paypal"]["configured"]:
            paypal["currency"] = form.paypal_currency.data or None
            paypal["rate"] = form.paypal_rate.data
            data["paypal"] = paypal
    return data


_ALIASES = {
    "refund_policy.full_refund_hours_before": "full_refund_hours_before",
    "stripe.secret_key": "stripe_secret_key",
    "stripe.publishable_key": "stripe_publishable_key",
    "stripe.webhook_secret": "stripe_webhook_secret",
    "paypal.client_id": "paypal_client_id",
    "paypal.client_secret": "paypal_client_secret",
    "paypal.webhook_id": "paypal_webhook_id",
    "paypal.currency": "paypal_currency",
    "paypal.rate": "paypal_rate",
}


@blp.route("/payment-settings", methods=["GET", "POST"])
@auth.requires("payments.settings")
def payment_settings() -> Response:
    current = payments.get_payment_settings(tenant=ctx().tenant, actor=ctx().actor)
    form = PaymentSettingsForm()
    if request.method == "GET":
        _fill(form, current)
    if form.validate_on_submit():
        try:
            data = load(PaymentSettingsUpdateSchema(), _payload(form, current))
            payments.update_payment_settings(**svc(), data=data)
        except errors.BookMeError as exc:
            flat = _flatten_nested(exc)
            put_errors(form, flat, aliases=_ALIASES)
        else:
            flash(_("Payment settings saved."), "success")
            return see_other(url_for("admin.payment_settings"))
    return form_page("admin/settings/payments.html", form, current=current)


def _flatten_nested(error: errors.BookMeError) -> errors.BookMeError:
    """`{"paypal": {"rate": [...]}}` (the service's shape) as `paypal.rate`, like the schema's."""
    flat: dict[str, Any] = {}
    for key, value in (error.errors or {}).items():
        if isinstance(value, dict):
            for inner, messages in value.items():
                flat[f"{key}.{inner}"] = messages
        else:
            flat[key] = value
    return type(error)(error.detail, errors=flat or None)
