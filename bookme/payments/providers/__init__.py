"""Payment providers behind one small interface (`base.Provider`): Stripe, PayPal, cash."""

from bookme.payments.providers.base import (
    Charge,
    Opened,
    Provider,
    ProviderError,
    RefundOutcome,
    Rejected,
    Remote,
    Unreachable,
)

__all__ = [
    "Charge", "Opened", "Provider", "ProviderError", "RefundOutcome", "Rejected", "Remote",
    "Unreachable",
]  # fmt: skip
