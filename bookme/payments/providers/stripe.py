"""Stripe through the official SDK's `StripeClient`, at `STRIPE_API_BASE` when set.

PaymentIntents are created with an idempotency key derived from our payment id, so a retry
after a lost answer finds the same intent; refunds likewise from our refund id. Only
parameters every Stripe-compatible server takes are sent (no `automatic_payment_methods`,
`description`, `receipt_email`, `statement_descriptor`, `return_url`, or refund `reason`).
"""

from __future__ import annotations

import functools
import uuid

import stripe

from bookme.payments import money
from bookme.payments.providers.base import (
    Charge,
    Opened,
    RefundOutcome,
    Rejected,
    Remote,
    Unreachable,
)

TIMEOUT_SECONDS = 15

_STATUSES = {
    "requires_payment_method": "requires_payment",
    "requires_confirmation": "requires_payment",
    "requires_action": "requires_payment",
    "processing": "processing",
    "requires_capture": "processing",
    "succeeded": "succeeded",
    "canceled": "cancelled",
}
_REFUND_STATUSES = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


def payment_status(stripe_status: str) -> str:
    return _STATUSES.get(stripe_status, "requires_payment")


def refund_status(stripe_status: str) -> str:
    return _REFUND_STATUSES.get(stripe_status, "pending")


def _charge_id(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(getattr(value, "id", None) or "") or None


@functools.lru_cache(maxsize=256)
def _client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    """One client per business key (and base address), so its HTTP connections are reused."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=2,
    )


class Stripe:
    name = "stripe"

    def __init__(self, secret_key: str, *, api_base: str | None = None) -> None:
        self.client = _client(secret_key, api_base)

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except (stripe.CardError, stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
            raise Rejected(exc.user_message or str(exc)) from exc
        except stripe.AuthenticationError as exc:
            raise Rejected("Stripe refused the business's API key.") from exc
        except stripe.StripeError as exc:  # connection, rate limit, 5xx
            raise Unreachable(str(exc)) from exc

    def open(self, charge: Charge) -> Opened:
        intent = self._call(
            self.client.v1.payment_intents.create,
            params={
                "amount": money.stripe_amount(charge.amount, charge.currency),
                "currency": charge.currency.lower(),
                "payment_method_types": ["card"],
                "metadata": {
                    "payment_id": str(charge.payment_id),
                    "tenant": charge.tenant_slug,
                    **({"booking_id": str(charge.booking_id)} if charge.booking_id else {}),
                },
            },
            options={"idempotency_key": f"bookme-payment-{charge.payment_id}"},
        )
        return Opened(reference=intent.id, client_secret=intent.client_secret)

    def fetch(self, reference: str) -> Remote:
        intent = self._call(self.client.v1.payment_intents.retrieve, reference)
        data = intent.to_dict()
        error = data.get("last_payment_error") or {}
        return Remote(
            status=payment_status(data.get("status", "")),
            charge=_charge_id(data.get("latest_charge")),
            failure_reason=(error.get("message") if isinstance(error, dict) else None),
        )

    def cancel(self, reference: str) -> None:
        self._call(self.client.v1.payment_intents.cancel, reference)

    def refund(
        self,
        *,
        refund_id: uuid.UUID,
        reference: str,
        charge: str | None,
        amount: int,
        currency: str,
    ) -> RefundOutcome:
        refund = self._call(
            self.client.v1.refunds.create,
            params={
                "payment_intent": reference,
                "amount": money.stripe_amount(amount, currency),
                "metadata": {"refund_id": str(refund_id)},
            },
            options={"idempotency_key": f"bookme-refund-{refund_id}"},
        )
        return self._outcome(refund)

    def fetch_refund(self, reference: str) -> RefundOutcome:
        return self._outcome(self._call(self.client.v1.refunds.retrieve, reference))

    @staticmethod
    def _outcome(refund: stripe.Refund) -> RefundOutcome:
        data = refund.to_dict()
        status = refund_status(data.get("status", ""))
        return RefundOutcome(
            status=status,
            reference=data.get("id"),
            failure_reason=data.get("failure_reason") if status == "failed" else None,
        )
