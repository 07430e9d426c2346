"""Payment endpoints: settings, payments and refunds, invoices, and the customer's pay links."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, g
from flask_smorest.pagination import PaginationParameters

from bookme.bookings import service as bookings
from bookme.bookings.schemas import IdempotencyHeaderSchema
from bookme.core import clock, errors, tenancy
from bookme.core.api import Blueprint, ProblemSchema
from bookme.payments import invoices, pdf, service
from bookme.payments.schemas import (
    InvoiceQueryArgsSchema,
    InvoiceSchema,
    OpenPaymentSchema,
    PaymentCreateSchema,
    PaymentDetailSchema,
    PaymentQueryArgsSchema,
    PaymentSchema,
    PaymentSettingsSchema,
    PaymentSettingsUpdateSchema,
    PublicPaySchema,
    RefundCreateSchema,
    RefundSchema,
)
from bookme.users import access

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "payments",
    __name__,
    description=(
        "Payments: deposits and prepayment online (Stripe, PayPal), cash at the counter, "
        "refunds, invoices and credit notes. A provider that refuses or cannot be reached "
        "answers 502 `provider_error` and nothing is recorded."
    ),
)


_provider_error = blp.alt_response(
    502,
    schema=ProblemSchema,
    content_type=errors.PROBLEM_MIMETYPE,
    description="The payment provider refused or could not be reached (`provider_error`); "
    "nothing was recorded.",
)


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


def _manage_token(fn: F) -> F:
    """No account and no tenant header: the manage token names its booking and its tenant."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tenancy.activate(bookings.tenant_for_manage_token(kwargs["manage_token"]))
        g.actor = access.CUSTOMER
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("anonymous", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# --- settings -----------------------------------------------------------------------------------


@blp.route("/payment-settings")
@access.member("owner", "manager")
@blp.response(200, PaymentSettingsSchema)
@blp.problems(400, 401, 403, 404)
def get_payment_settings() -> Any:
    """The business's payment settings; secrets never appear (only their last 4 characters)."""
    return service.get_payment_settings(**_ctx())


@blp.route("/payment-settings", methods=["PUT"])
@access.member("owner", "manager")
@blp.arguments(PaymentSettingsUpdateSchema)
@blp.response(200, PaymentSettingsSchema)
@blp.problems(400, 401, 403, 404, 422)
def update_payment_settings(data: dict[str, Any]) -> Any:
    """Set the fields given and keep the others; `stripe: null` or `paypal: null` removes one.

    Secrets (`secret_key`, `webhook_secret`, `client_secret`) are write-only and stored
    encrypted. A business whose currency PayPal does not take (MAD) must give PayPal a
    `currency` (EUR or USD) and a fixed `rate`, else 422 `validation_error`.
    """
    return service.update_payment_settings(**_ctx(), now=clock.now(), data=data)


# --- payments -----------------------------------------------------------------------------------


@blp.route("/payments")
@access.member("owner", "manager")
@blp.arguments(PaymentQueryArgsSchema, location="query")
@blp.response(200, PaymentSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 422)
def list_payments(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """List payments, oldest first; filters booking_id, status, provider, from, to (created)."""
    return service.list_payments(**_ctx(), args=args, pagination=pagination_parameters)


@blp.route("/payments/<uuid:payment_id>")
@access.member("owner", "manager")
@blp.response(200, PaymentDetailSchema)
@blp.problems(400, 401, 403, 404)
def get_payment(payment_id: uuid.UUID) -> Any:
    """A payment with its refunds."""
    return service.get_payment(**_ctx(), payment_id=payment_id)


@blp.route("/bookings/<uuid:booking_id>/payments", methods=["POST"])
@access.member()
@access.found(service.booking_exists)
@blp.arguments(PaymentCreateSchema)
@blp.response(201, OpenPaymentSchema)
@_provider_error
@blp.problems(400, 401, 403, 404, 409, 422)
def create_payment(data: dict[str, Any], booking_id: uuid.UUID) -> Any:
    """Record cash paid at the counter, or open an online payment for what is due.

    Any member, for any booking of the business. `provider: "cash"` with `amount` (at most
    what is due) is succeeded at once, with its invoice. `stripe` or `paypal` open a payment
    for `amount` (default: all that is due) and answer its `client_secret` or `approval_url`;
    an open one that fits is returned instead. The payment reads as `GET /payments/{id}`.
    A cancelled booking → 409 `invalid_transition`; provider not set up → 422
    `provider_not_configured`.
    """
    return service.create_payment(**_ctx(), now=clock.now(), booking_id=booking_id, data=data)


@blp.route("/payments/<uuid:payment_id>/refunds", methods=["POST"])
@access.member("owner", "manager")
@access.found(service.payment_exists)
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(RefundCreateSchema)
@blp.response(201, RefundSchema)
@blp.alt_response(
    409,
    schema=ProblemSchema,
    content_type=errors.PROBLEM_MIMETYPE,
    description="A request with this Idempotency-Key is still being processed "
    "(`idempotency_in_progress`); retry shortly.",
)
@blp.alt_response(
    422,
    schema=ProblemSchema,
    content_type=errors.PROBLEM_MIMETYPE,
    description="Validation error (`validation_error`), more than remains of the payment "
    "(`refund_exceeds_payment`), or the Idempotency-Key was used for a different request "
    "(`idempotency_key_reused`).",
)
@blp.problems(400, 401, 403, 404)
def refund_payment(headers: dict[str, Any], data: dict[str, Any], payment_id: uuid.UUID) -> Any:
    """Refund `amount` (default: all that remains), with an optional `reason`.

    More than paid minus refunded (and refunds still pending), or nothing left → 422
    `refund_exceeds_payment`, however many requests race. Cash refunds are recorded at once;
    online ones go to the provider: `succeeded`, `failed` with `failure_reason`, or `pending`
    until it confirms. An `Idempotency-Key` is the caller's, as on `POST /bookings`: the
    same key and request answers the refund it first created (as it is now), or the same
    refusal; with a different request (another payment included) → 422
    `idempotency_key_reused`; while the first still runs → 409 `idempotency_in_progress`.
    """
    return service.refund_payment(
        **_ctx(),
        now=clock.now(),
        payment_id=payment_id,
        data=data,
        idempotency_key=headers.get("idempotency_key"),
    )


# --- invoices -----------------------------------------------------------------------------------


@blp.route("/invoices")
@access.member("owner", "manager")
@blp.arguments(InvoiceQueryArgsSchema, location="query")
@blp.response(200, InvoiceSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 422)
def list_invoices(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """Invoices and credit notes by issue time; filters from, to, customer_id, kind."""
    return invoices.list_invoices(
        tenant=access.current_tenant(), args=args, pagination=pagination_parameters
    )


@blp.route("/invoices/<uuid:invoice_id>")
@access.member("owner", "manager")
@blp.response(200, InvoiceSchema)
@blp.problems(400, 401, 403, 404)
def get_invoice(invoice_id: uuid.UUID) -> Any:
    """An invoice or credit note."""
    return invoices.get_invoice(invoice_id=invoice_id)


@blp.route("/invoices/<uuid:invoice_id>/pdf")
@access.member("owner", "manager")
@blp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type="application/pdf",
    description="The invoice as PDF, in French or Arabic (the customer's language, "
    "else the business's).",
)
@blp.problems(400, 401, 403, 404)
def get_invoice_pdf(invoice_id: uuid.UUID) -> Any:
    """The invoice or credit note as PDF."""
    document = pdf.render_invoice(tenant=access.current_tenant(), invoice_id=invoice_id)
    return Response(
        document.content,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{document.filename}"'},
    )


# --- the customer's side ------------------------------------------------------------------------


@blp.route("/public/bookings/<string:manage_token>/pay", methods=["POST"])
@_manage_token
@blp.arguments(PublicPaySchema)
@blp.response(200, OpenPaymentSchema)
@_provider_error
@blp.problems(400, 403, 404, 409, 422)
def pay_managed_booking(data: dict[str, Any], manage_token: str) -> Any:
    """Pay what is due through the manage link: the open payment, or a new one.

    `provider` is `stripe` (default) or `paypal`. Nothing due → 422; a cancelled booking or
    an expired hold → 409 `invalid_transition`.
    """
    return service.pay_managed_booking(
        tenant=access.current_tenant(),
        actor=access.current_actor(),
        now=clock.now(),
        token=manage_token,
        provider_name=data["provider"],
    )


@blp.route("/public/payments/<uuid:payment_id>/paypal/capture", methods=["POST"])
@access.public
@access.found(service.payment_exists)
@blp.no_body()
@blp.response(200, OpenPaymentSchema)
@_provider_error
@blp.problems(400, 403, 404, 409)
def capture_paypal(payment_id: uuid.UUID) -> Any:
    """After the customer approved the PayPal order: capture it. Idempotent.

    The payment is `succeeded` (and the booking confirmed) only when PayPal's capture is
    COMPLETED. A cancelled payment → 409 `invalid_transition`.
    """
    return service.capture_paypal(**_ctx(), now=clock.now(), payment_id=payment_id)
