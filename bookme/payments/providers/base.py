"""The one small interface every payment provider implements, and what it answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from bookme.core import errors

ProviderError = errors._error(502, "provider_error", "Payment provider error")
ProviderError.__doc__ = (
    "The payment provider refused or could not be reached; nothing was recorded, retry later."
)


class Rejected(Exception):
    """The provider answered and said no (a card declined, an invalid request)."""


class Unreachable(Exception):
    """The provider could not be reached or failed (network, 5xx, 429): the outcome is unknown."""


@dataclass(frozen=True)
class Opened:
    """An online payment opened at the provider for the customer to complete."""

    reference: str
    client_secret: str | None = None
    approval_url: str | None = None


@dataclass(frozen=True)
class Remote:
    """What the provider says of a payment, in our statuses (`requires_payment`, …)."""

    status: str
    charge: str | None = None  # Stripe charge id / PayPal capture id
    failure_reason: str | None = None
    approved: bool = False  # PayPal: approved by the payer, not captured yet


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # pending | succeeded | failed
    reference: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class Charge:
    """What to open: our payment id keys the provider's idempotency."""

    payment_id: uuid.UUID
    booking_id: uuid.UUID | None  # None while the booking is being written with it
    tenant_slug: str
    amount: int  # minor units, in `currency` (already converted for PayPal)
    currency: str
    return_url: str | None = None


class Provider(Protocol):
    name: str

    def open(self, charge: Charge) -> Opened: ...

    def fetch(self, reference: str) -> Remote: ...

    def cancel(self, reference: str) -> None: ...

    def refund(
        self,
        *,
        refund_id: uuid.UUID,
        reference: str,
        charge: str | None,
        amount: int,
        currency: str,
    ) -> RefundOutcome: ...

    def fetch_refund(self, reference: str) -> RefundOutcome: ...
