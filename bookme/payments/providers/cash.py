"""Cash at the counter: recorded by staff, refunded by staff; no outside call."""

from __future__ import annotations

import uuid

from bookme.payments.providers.base import Charge, Opened, RefundOutcome, Remote


class Cash:
    name = "cash"

    def open(self, charge: Charge) -> Opened:
        raise NotImplementedError("cash is recorded, never opened")

    def fetch(self, reference: str) -> Remote:
        return Remote(status="succeeded")

    def cancel(self, reference: str) -> None:
        return None

    def refund(
        self,
        *,
        refund_id: uuid.UUID,
        reference: str,
        charge: str | None,
        amount: int,
        currency: str,
    ) -> RefundOutcome:
        return RefundOutcome(status="succeeded")

    def fetch_refund(self, reference: str) -> RefundOutcome:
        return RefundOutcome(status="succeeded", reference=reference)
