"""PayPal Orders v2 over plain HTTP (`requests`), at `PAYPAL_API_BASE` when set.

OAuth2 client-credentials token (cached per client until shortly before it expires); create
order → the payer approves at the `payer-action`/`approve` link → capture. Every write sends
`PayPal-Request-Id` derived from our ids, so a retry never captures or refunds twice. A
payment counts as paid only when its capture's status is `COMPLETED`. Webhooks are verified
with PayPal's own `verify-webhook-signature` call.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import requests

from bookme.payments import money
from bookme.payments.providers.base import (
    Charge,
    Opened,
    RefundOutcome,
    Rejected,
    Remote,
    Unreachable,
)

LIVE_BASE = "https://api-m.paypal.com"
TIMEOUT_SECONDS = 15

_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()
_session = requests.Session()

_CAPTURE_STATUSES = {
    "COMPLETED": "succeeded",
    "PENDING": "processing",
    "DECLINED": "failed",
    "FAILED": "failed",
    "REFUNDED": "succeeded",
    "PARTIALLY_REFUNDED": "succeeded",
}
_REFUND_STATUSES = {
    "COMPLETED": "succeeded",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELLED": "failed",
}


def refund_status(paypal_status: str) -> str:
    return _REFUND_STATUSES.get(paypal_status, "pending")


def capture_of(order: dict[str, Any]) -> dict[str, Any] | None:
    """The order's (first) capture, if any."""
    for unit in order.get("purchase_units") or []:
        for capture in ((unit.get("payments") or {}).get("captures")) or []:
            return dict(capture)
    return None


def remote_from_order(order: dict[str, Any]) -> Remote:
    capture = capture_of(order)
    if capture is not None:
        status = _CAPTURE_STATUSES.get(capture.get("status", ""), "processing")
        reason = None
        if status == "failed":
            details = capture.get("status_details") or {}
            reason = f"PayPal capture {capture.get('status')}: {details.get('reason', 'declined')}"
        return Remote(status=status, charge=capture.get("id"), failure_reason=reason)
    state = order.get("status", "")
    if state == "APPROVED":
        return Remote(status="requires_payment", approved=True)
    if state == "VOIDED":
        return Remote(status="cancelled")
    return Remote(status="requires_payment")


class PayPal:
    name = "paypal"

    def __init__(self, client_id: str, client_secret: str, *, api_base: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.base = (api_base or LIVE_BASE).rstrip("/")

    # --- HTTP ---------------------------------------------------------------------------------

    def _token(self, *, fresh: bool = False) -> str:
        key = (self.base, self.client_id)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
        try:
            answer = _session.post(
                f"{self.base}/v1/oauth2/token",
                auth=(self.client_id, self.client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise Unreachable(f"PayPal could not be reached: {exc.__class__.__name__}") from exc
        if answer.status_code in (400, 401, 403):
            raise Rejected("PayPal refused the business's client id or secret.")
        if answer.status_code >= 300:
            raise Unreachable(f"PayPal answered {answer.status_code} to the token request.")
        body = answer.json()
        token = str(body["access_token"])
        lifetime = max(int(body.get("expires_in", 300)) - 60, 30)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + lifetime)
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        request_id: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One call; 401 refreshes the token once. 5xx/429/network → Unreachable."""
        for attempt in (0, 1):
            headers = {
                "Authorization": f"Bearer {self._token(fresh=attempt == 1)}",
                "Content-Type": "application/json",
                "Prefer": "return=representation",
            }
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            try:
                answer = _session.request(
                    method,
                    f"{self.base}{path}",
                    json=json,
                    headers=headers,
                    timeout=TIMEOUT_SECONDS,
                )
            except requests.RequestException as exc:
                raise Unreachable(f"PayPal could not be reached: {exc.__class__.__name__}") from exc
            if answer.status_code == 401 and attempt == 0:
                continue
            if answer.status_code >= 500 or answer.status_code == 429:
                raise Unreachable(f"PayPal answered {answer.status_code}.")
            try:
                body = answer.json() if answer.content else {}
            except ValueError:
                body = {}
            return answer.status_code, body
        raise Rejected("PayPal refused the business's credentials.")

    @staticmethod
    def _issue(body: dict[str, Any]) -> str:
        details = body.get("details") or [{}]
        return str(details[0].get("issue") or body.get("name") or "UNKNOWN")

    # --- payments -----------------------------------------------------------------------------

    def open(self, charge: Charge) -> Opened:
        context: dict[str, Any] = {"user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING"}
        if charge.return_url:
            context["return_url"] = charge.return_url
            context["cancel_url"] = charge.return_url
        status, body = self.request(
            "POST",
            "/v2/checkout/orders",
            json={
                "intent": "CAPTURE",
                "purchase_units": [
                    {
                        "reference_id": str(charge.booking_id or charge.payment_id),
                        "custom_id": str(charge.payment_id),
                        "amount": {
                            "currency_code": charge.currency,
                            "value": money.format(charge.amount),
                        },
                    }
                ],
                "payment_source": {"paypal": {"experience_context": context}},
            },
            request_id=f"bookme-payment-{charge.payment_id}",
        )
        if status >= 300:
            raise Rejected(f"PayPal refused the order: {self._issue(body)}")
        link = next(
            (
                x["href"]
                for x in body.get("links", [])
                if x.get("rel") in ("payer-action", "approve")
            ),
            None,
        )
        if not body.get("id") or not link:
            raise Unreachable("PayPal's answer had no order id or approval link.")
        return Opened(reference=str(body["id"]), approval_url=str(link))

    def fetch(self, reference: str) -> Remote:
        status, body = self.request("GET", f"/v2/checkout/orders/{reference}")
        if status == 404:
            return Remote(status="cancelled", failure_reason="PayPal no longer knows this order.")
        if status >= 300:
            raise Rejected(f"PayPal refused to show the order: {self._issue(body)}")
        return remote_from_order(body)

    def capture(self, reference: str, *, payment_id: uuid.UUID) -> Remote:
        """Capture an approved order (idempotent); not approved yet → Rejected."""
        status, body = self.request(
            "POST",
            f"/v2/checkout/orders/{reference}/capture",
            json={},
            request_id=f"bookme-capture-{payment_id}",
        )
        if status < 300:
            return remote_from_order(body)
        issue = self._issue(body)
        if issue == "ORDER_ALREADY_CAPTURED":
            return self.fetch(reference)
        if issue in ("INSTRUMENT_DECLINED", "TRANSACTION_REFUSED", "PAYER_ACTION_REQUIRED"):
            return Remote(status="failed", failure_reason=f"PayPal: {issue}")
        raise Rejected(f"PayPal refused the capture: {issue}")

    def cancel(self, reference: str) -> None:
        """Orders v2 has no cancel: an unapproved order lapses, and we never capture it."""
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
        if not charge:
            raise Rejected("This PayPal payment has no capture to refund.")
        status, body = self.request(
            "POST",
            f"/v2/payments/captures/{charge}/refund",
            json={
                "amount": {"value": money.format(amount), "currency_code": currency},
                "custom_id": str(refund_id),
            },
            request_id=f"bookme-refund-{refund_id}",
        )
        if status >= 300:
            return RefundOutcome(status="failed", failure_reason=f"PayPal: {self._issue(body)}")
        return RefundOutcome(status=refund_status(body.get("status", "")), reference=body.get("id"))

    def fetch_refund(self, reference: str) -> RefundOutcome:
        status, body = self.request("GET", f"/v2/payments/refunds/{reference}")
        if status >= 300:
            raise Rejected(f"PayPal refused to show the refund: {self._issue(body)}")
        return RefundOutcome(status=refund_status(body.get("status", "")), reference=reference)

    # --- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, *, headers: dict[str, str], webhook_id: str, event: Any) -> bool:
        """PayPal's verify-webhook-signature over the transmission headers and the event."""
        fields = {
            "auth_algo": headers.get("PAYPAL-AUTH-ALGO"),
            "cert_url": headers.get("PAYPAL-CERT-URL"),
            "transmission_id": headers.get("PAYPAL-TRANSMISSION-ID"),
            "transmission_sig": headers.get("PAYPAL-TRANSMISSION-SIG"),
            "transmission_time": headers.get("PAYPAL-TRANSMISSION-TIME"),
        }
        if not all(fields.values()):
            return False
        status, body = self.request(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            json={**fields, "webhook_id": webhook_id, "webhook_event": event},
        )
        return status < 300 and body.get("verification_status") == "SUCCESS"
