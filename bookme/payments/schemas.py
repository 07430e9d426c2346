"""Request and response schemas of payments, refunds, invoices and payment settings."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma

from bookme.bookings.schemas import check_bound
from bookme.core.api import Money, Pattern, QuerySchema, Schema, Str, TenantDateTime
from bookme.payments import money
from bookme.payments.models import INVOICE_KINDS, KINDS, PROVIDERS, REFUND_STATUSES, STATUSES

PAYPAL_CURRENCIES = ("EUR", "USD")


class MinorMoney(ma.fields.String):
    """Integer minor units inside, a decimal string (`"150.00"`) outside."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Decimal | str):
            return f"{Decimal(value):.2f}"
        return money.format(int(value))


class Amount(Money):
    """A request amount: a decimal string of at most 12 characters (`"150.00"`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"maxLength": 12, "example": "150.00", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, str) and len(value) > 12:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Rate(ma.fields.String):
    """A positive decimal string with at most 6 places (`"0.0920"`)."""

    default_error_messages = {"invalid": 'Expected a positive decimal like "0.0920".'}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"maxLength": 20, **kwargs.pop("metadata", {})}, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{Decimal(value).normalize():f}"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or len(value) > 20:
            raise self.make_error("invalid")
        try:
            rate = Decimal(value)
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not rate.is_finite() or rate <= 0 or rate.as_tuple().exponent < -6 or rate >= 10**7:  # type: ignore[operator]
            raise self.make_error("invalid")
        return rate


class Percent(ma.fields.String):
    """A tax rate in percent, as a decimal string with at most two places (`"20.00"`)."""

    default_error_messages = {"invalid": 'Expected a percentage like "20.00" (0 to 99.99).'}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"maxLength": 10, **kwargs.pop("metadata", {})}, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{Decimal(value):.2f}"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or len(value) > 10:
            raise self.make_error("invalid")
        try:
            rate = Decimal(value)
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not rate.is_finite() or not 0 <= rate < 100 or rate.as_tuple().exponent < -2:  # type: ignore[operator]
            raise self.make_error("invalid")
        return rate


def _no_blank_secret(value: str) -> None:
    if not value.strip() or re.search(r"\s", value):
        raise ma.ValidationError("Must not be blank or contain spaces.")


# --- settings -----------------------------------------------------------------------------------


class StripeSettingsUpdateSchema(Schema):
    secret_key = Str(255, min_length=8, metadata={"description": "sk_… or rk_… (write-only)"})
    publishable_key = Str(255, metadata={"description": "pk_…, shown to the customer's browser"})
    webhook_secret = Str(255, min_length=8, metadata={"description": "whsec_… (write-only)"})

    @ma.validates("secret_key")
    def _secret(self, value: str, **kwargs: Any) -> None:
        _no_blank_secret(value)
        if not value.startswith(("sk_", "rk_")):
            raise ma.ValidationError("A Stripe secret key starts with sk_ or rk_.")

    @ma.validates("publishable_key")
    def _publishable(self, value: str, **kwargs: Any) -> None:
        if not value.startswith("pk_"):
            raise ma.ValidationError("A Stripe publishable key starts with pk_.")

    @ma.validates("webhook_secret")
    def _webhook(self, value: str, **kwargs: Any) -> None:
        _no_blank_secret(value)
        if not value.startswith("whsec_"):
            raise ma.ValidationError("A Stripe webhook signing secret starts with whsec_.")


class PayPalSettingsUpdateSchema(Schema):
    client_id = Str(255, min_length=1)
    # Long enough that `client_secret_last4` never shows the whole secret (PayPal's are 80).
    client_secret = Str(255, min_length=8, metadata={"description": "Write-only"})
    webhook_id = Str(255, min_length=1, metadata={"description": "The webhook's id at PayPal"})
    currency = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(PAYPAL_CURRENCIES),
        metadata={
            "description": "What PayPal charges in when the business's currency is not "
            "one PayPal takes (MAD): EUR or USD."
        },
    )
    rate = Rate(
        allow_none=True,
        metadata={"description": "Units of `currency` per unit of the business's currency."},
    )

    @ma.validates("client_secret")
    def _secret(self, value: str, **kwargs: Any) -> None:
        _no_blank_secret(value)


class RefundPolicySchema(Schema):
    full_refund_hours_before = ma.fields.Integer(
        strict=True,
        required=True,
        validate=ma.validate.Range(min=0, max=8760),
        metadata={
            "description": "A customer cancelling at least this long before the start "
            "is refunded in full (default 24)."
        },
    )


def _issuer_fields() -> dict[str, ma.fields.Field]:
    return {
        "legal_name": Str(200, allow_none=True),
        "address": Str(500, allow_none=True),
        "ice": ma.fields.String(
            allow_none=True,
            validate=Pattern(r"^\d{15}$", error="An ICE has 15 digits."),
            metadata={
                "description": "Identifiant Commun de l'Entreprise (15 digits)",
                "maxLength": 15,
            },
        ),
        "tax_id": Str(32, allow_none=True, metadata={"description": "Identifiant fiscal (IF)"}),
        "trade_register": Str(
            64, allow_none=True, metadata={"description": "Registre du commerce (RC)"}
        ),
        "invoice_prefix": ma.fields.String(
            validate=Pattern(
                r"^[A-Za-z0-9/_-]{0,20}$", error="Up to 20 letters, digits, '/', '_' or '-'."
            ),
            metadata={
                "description": "Put before every number: `{prefix}2027-000001`.",
                "maxLength": 20,
            },
        ),
    }


class PaymentSettingsUpdateSchema(Schema):
    """PUT sets the fields given and keeps the others; a provider set to null is removed."""

    stripe = ma.fields.Nested(StripeSettingsUpdateSchema, allow_none=True)
    paypal = ma.fields.Nested(PayPalSettingsUpdateSchema, allow_none=True)
    hold_minutes = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=1440))
    refund_policy = ma.fields.Nested(RefundPolicySchema)
    tax_rate = Percent(metadata={"description": "Percent; prices include tax (default 20.00)."})
    legal_name = _issuer_fields()["legal_name"]
    address = _issuer_fields()["address"]
    ice = _issuer_fields()["ice"]
    tax_id = _issuer_fields()["tax_id"]
    trade_register = _issuer_fields()["trade_register"]
    invoice_prefix = _issuer_fields()["invoice_prefix"]


class StripeSettingsSchema(Schema):
    configured = ma.fields.Boolean()
    publishable_key = ma.fields.String(allow_none=True)
    secret_key_last4 = ma.fields.String(allow_none=True)
    webhook_secret_configured = ma.fields.Boolean()


class PayPalSettingsSchema(Schema):
    configured = ma.fields.Boolean()
    client_id = ma.fields.String(allow_none=True)
    client_secret_last4 = ma.fields.String(allow_none=True)
    webhook_id = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    rate = Rate(allow_none=True)


class PaymentSettingsSchema(Schema):
    stripe = ma.fields.Nested(StripeSettingsSchema)
    paypal = ma.fields.Nested(PayPalSettingsSchema)
    hold_minutes = ma.fields.Integer()
    refund_policy = ma.fields.Nested(RefundPolicySchema)
    tax_rate = Percent()
    legal_name = ma.fields.String(allow_none=True)
    address = ma.fields.String(allow_none=True)
    ice = ma.fields.String(allow_none=True)
    tax_id = ma.fields.String(allow_none=True)
    trade_register = ma.fields.String(allow_none=True)
    invoice_prefix = ma.fields.String()
    webhook_urls = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "Where to point the providers' webhooks."},
    )
    updated_at = TenantDateTime(allow_none=True)


# --- payments and refunds -----------------------------------------------------------------------


class RefundSchema(Schema):
    id = ma.fields.UUID()
    payment_id = ma.fields.UUID()
    amount = MinorMoney()
    currency = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(REFUND_STATUSES)})
    origin = ma.fields.String(
        metadata={
            "enum": ["manual", "policy", "late_payment", "provider"],
            "description": "By hand, by the refund policy on cancellation, a payment that "
            "came after its booking was cancelled, or made at the provider directly.",
        }
    )
    reason = ma.fields.String(allow_none=True)
    failure_reason = ma.fields.String(allow_none=True)
    provider_reference = ma.fields.String(allow_none=True)
    created_at = TenantDateTime()
    succeeded_at = TenantDateTime(allow_none=True)


class PaymentSchema(Schema):
    id = ma.fields.UUID()
    booking_id = ma.fields.UUID()
    provider = ma.fields.String(metadata={"enum": list(PROVIDERS)})
    kind = ma.fields.String(metadata={"enum": list(KINDS)})
    amount = MinorMoney()
    currency = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    amount_refunded = MinorMoney()
    provider_reference = ma.fields.String(allow_none=True)
    charged_amount = MinorMoney(allow_none=True, metadata={"description": "PayPal in EUR/USD"})
    charged_currency = ma.fields.String(allow_none=True)
    exchange_rate = Rate(allow_none=True)
    failure_reason = ma.fields.String(allow_none=True)
    expires_at = TenantDateTime(allow_none=True)
    created_at = TenantDateTime()
    succeeded_at = TenantDateTime(allow_none=True)


class PaymentDetailSchema(PaymentSchema):
    refunds = ma.fields.List(ma.fields.Nested(RefundSchema))


class OpenPaymentSchema(PaymentSchema):
    """A payment as its payer needs it: Stripe's client_secret, or PayPal's approval link
    (present while it can still be paid)."""

    client_secret = ma.fields.String(metadata={"description": "Stripe: confirm with Stripe.js"})
    publishable_key = ma.fields.String(metadata={"description": "Stripe: for Stripe.js"})
    approval_url = ma.fields.String(metadata={"description": "PayPal: send the customer here"})


class PaymentCreateSchema(Schema):
    provider = ma.fields.String(required=True, validate=ma.validate.OneOf(PROVIDERS))
    amount = Amount(
        metadata={
            "description": "Cash: required, what was paid at the counter (at most what is "
            "due). Online: defaults to all that is due."
        }
    )

    @ma.validates_schema
    def _cash_amount(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("provider") == "cash" and data.get("amount") is None:
            raise ma.ValidationError("A cash payment needs its amount.", "amount")
        if data.get("amount") is not None and data["amount"] <= 0:
            raise ma.ValidationError("Must be more than zero.", "amount")


class PublicPaySchema(Schema):
    provider = ma.fields.String(
        load_default="stripe", validate=ma.validate.OneOf(["stripe", "paypal"])
    )


class RefundCreateSchema(Schema):
    amount = Amount(
        metadata={"description": "More than zero; default: all that remains of the payment."}
    )
    reason = Str(500)

    @ma.validates("amount")
    def _positive(self, value: Any, **kwargs: Any) -> None:
        if value is not None and value <= 0:
            raise ma.ValidationError("Must be more than zero.")


class _PeriodArgs(QuerySchema):
    from_ = ma.fields.String(
        data_key="from",
        validate=check_bound,
        metadata={"description": "YYYY-MM-DD (local) or RFC 3339", "maxLength": 40},
    )
    to = ma.fields.String(
        validate=check_bound,
        metadata={"description": "YYYY-MM-DD (inclusive) or RFC 3339", "maxLength": 40},
    )


class PaymentQueryArgsSchema(_PeriodArgs):
    booking_id = ma.fields.UUID()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    provider = ma.fields.String(validate=ma.validate.OneOf(PROVIDERS))


# --- invoices -----------------------------------------------------------------------------------


class InvoiceLineSchema(Schema):
    description = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": list(KINDS)})
    appointment_at = TenantDateTime(allow_none=True)
    quantity = ma.fields.Integer()
    unit_price = MinorMoney()
    total_excl_tax = MinorMoney()
    tax_rate = Percent()
    tax = MinorMoney()
    total = MinorMoney()


class InvoicePartySchema(Schema):
    id = ma.fields.String(allow_none=True)
    full_name = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    locale = ma.fields.String(allow_none=True)


class InvoiceIssuerSchema(Schema):
    legal_name = ma.fields.String(allow_none=True)
    address = ma.fields.String(allow_none=True)
    ice = ma.fields.String(allow_none=True)
    tax_id = ma.fields.String(allow_none=True)
    trade_register = ma.fields.String(allow_none=True)


class InvoiceSchema(Schema):
    id = ma.fields.UUID()
    number = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": list(INVOICE_KINDS)})
    issued_at = TenantDateTime()
    booking_id = ma.fields.UUID()
    payment_id = ma.fields.UUID()
    refund_id = ma.fields.UUID(allow_none=True)
    credited_invoice_number = ma.fields.String(
        allow_none=True, metadata={"description": "A credit note: the invoice it credits."}
    )
    customer = ma.fields.Nested(InvoicePartySchema)
    issuer = ma.fields.Nested(InvoiceIssuerSchema)
    lines = ma.fields.List(ma.fields.Nested(InvoiceLineSchema))
    total_excl_tax = MinorMoney()
    tax = MinorMoney()
    total = MinorMoney()
    tax_rate = Percent()
    currency = ma.fields.String()
    locale = ma.fields.String()


class InvoiceQueryArgsSchema(_PeriodArgs):
    customer_id = ma.fields.UUID()
    kind = ma.fields.String(validate=ma.validate.OneOf(INVOICE_KINDS))
