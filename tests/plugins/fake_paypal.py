"""A small local server speaking PayPal's REST wire format: OAuth2 tokens, Orders v2 (create,
show, capture), capture refunds, and webhook signature verification.

`PAYPAL_API_BASE` points BookMe at it. The test plays the payer (`approve(order_id)`), picks
what the next capture answers (`capture_status`), and signs webhook deliveries with `sign()`;
the verification endpoint recomputes that signature over the event it is sent, so a tampered
event fails as it would at PayPal. Every write's `PayPal-Request-Id` is recorded; a repeated
one replays the first answer, as PayPal does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CLIENT_ID = "paypal-client-id-test"
CLIENT_SECRET = "paypal-client-secret-test-1234"
WEBHOOK_ID = "WH-TEST-0001"
_SIGNING_KEY = b"fake-paypal-signing-key"


def canonical(event: Any) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signature(transmission_id: str, when: str, webhook_id: str, event: Any) -> str:
    crc = zlib.crc32(canonical(event))
    message = f"{transmission_id}|{when}|{webhook_id}|{crc}".encode()
    return base64.b64encode(hmac.new(_SIGNING_KEY, message, hashlib.sha256).digest()).decode()


@dataclass
class FakePayPal:
    url: str = ""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, str | None]] = field(default_factory=list)
    capture_status: str = "COMPLETED"
    refund_status: str = "COMPLETED"
    fail_next: int = 0  # answer 503 to this many calls
    _replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.orders.clear()
            self.refunds.clear()
            self.writes.clear()
            self._replies.clear()
            self.capture_status = "COMPLETED"
            self.refund_status = "COMPLETED"
            self.fail_next = 0

    def approve(self, order_id: str) -> None:
        with self._lock:
            self.orders[order_id]["status"] = "APPROVED"

    def sign(self, event: dict[str, Any], webhook_id: str = WEBHOOK_ID) -> dict[str, str]:
        transmission_id = str(uuid.uuid4())
        when = datetime.now(UTC).isoformat()
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": _signature(transmission_id, when, webhook_id, event),
            "PAYPAL-CERT-URL": f"{self.url}/certs/fake.pem",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }

    # --- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"name": "SERVICE_UNAVAILABLE"}
            if path == "/v1/oauth2/token":
                return self._token(headers)
            if headers.get("Authorization", "") != "Bearer fake-paypal-token":
                return 401, {"name": "AUTHENTICATION_FAILURE"}
            request_id = headers.get("PayPal-Request-Id")
            if method == "POST":
                self.writes.append((method, path, request_id))
                if request_id and request_id in self._replies:
                    return self._replies[request_id]
            answer = self._route(method, path, body)
            if method == "POST" and request_id and answer[0] < 300:
                self._replies[request_id] = answer
            return answer

    def _token(self, headers: Any) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("Authorization") != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        return 200, {
            "access_token": "fake-paypal-token",
            "token_type": "Bearer",
            "expires_in": 32400,
        }

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v2/checkout/orders":
            return self._create(body)
        if parts[:3] == ["v2", "checkout", "orders"] and len(parts) == 4 and method == "GET":
            order = self.orders.get(parts[3])
            return (200, order) if order else (404, {"name": "RESOURCE_NOT_FOUND"})
        if parts[:3] == ["v2", "checkout", "orders"] and parts[-1] == "capture":
            return self._capture(parts[3])
        if parts[:3] == ["v2", "payments", "captures"] and parts[-1] == "refund":
            return self._refund(parts[3], body)
        if parts[:3] == ["v2", "payments", "refunds"] and method == "GET":
            refund = self.refunds.get(parts[3])
            return (200, refund) if refund else (404, {"name": "RESOURCE_NOT_FOUND"})
        if path == "/v1/notifications/verify-webhook-signature":
            return self._verify(body)
        return 404, {"name": "RESOURCE_NOT_FOUND"}

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        unit = body["purchase_units"][0]
        order_id = uuid.uuid4().hex[:17].upper()
        order = {
            "id": order_id,
            "status": "PAYER_ACTION_REQUIRED",
            "intent": body.get("intent"),
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id"),
                    "custom_id": unit.get("custom_id"),
                    "amount": unit["amount"],
                }
            ],
            "links": [
                {"rel": "self", "href": f"{self.url}/v2/checkout/orders/{order_id}"},
                {"rel": "payer-action", "href": f"{self.url}/checkoutnow?token={order_id}"},
            ],
        }
        self.orders[order_id] = order
        return 200, order

    def _capture(self, order_id: str) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            return 404, {"name": "RESOURCE_NOT_FOUND"}
        if order["status"] == "COMPLETED":
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "ORDER_ALREADY_CAPTURED"}],
            }
        if order["status"] != "APPROVED":
            return 422, {
                "name": "UNPROCESSABLE_ENTITY",
                "details": [{"issue": "ORDER_NOT_APPROVED"}],
            }
        unit = order["purchase_units"][0]
        capture = {
            "id": "CAP" + uuid.uuid4().hex[:14].upper(),
            "status": self.capture_status,
            "amount": unit["amount"],
            "custom_id": unit.get("custom_id"),
            "refunded": 0,
        }
        unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        return 201, order

    def _refund(self, capture_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for order in self.orders.values():
            for capture in (order["purchase_units"][0].get("payments") or {}).get("captures", []):
                if capture["id"] != capture_id:
                    continue
                value = round(float(body["amount"]["value"]) * 100)
                total = round(float(capture["amount"]["value"]) * 100)
                if capture["refunded"] + value > total:
                    return 422, {
                        "name": "UNPROCESSABLE_ENTITY",
                        "details": [{"issue": "REFUND_AMOUNT_EXCEEDED"}],
                    }
                if self.refund_status in ("COMPLETED", "PENDING"):
                    capture["refunded"] += value
                refund = {
                    "id": "REF" + uuid.uuid4().hex[:14].upper(),
                    "status": self.refund_status,
                    "amount": body["amount"],
                    "custom_id": body.get("custom_id"),
                    "links": [
                        {"rel": "up", "href": f"{self.url}/v2/payments/captures/{capture_id}"}
                    ],
                }
                self.refunds[refund["id"]] = refund
                return 201, refund
        return 404, {"name": "RESOURCE_NOT_FOUND"}

    def _verify(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        expected = _signature(
            body.get("transmission_id", ""),
            body.get("transmission_time", ""),
            body.get("webhook_id", ""),
            body.get("webhook_event"),
        )
        ok = hmac.compare_digest(expected, str(body.get("transmission_sig", "")))
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}


def _handler(fake: FakePayPal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path == "/v1/oauth2/token":
                body: Any = raw.decode()
            else:
                body = json.loads(raw) if raw else None
            status, answer = fake.handle(method, self.path.split("?")[0], self.headers, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def start_fake_paypal() -> tuple[FakePayPal, ThreadingHTTPServer]:
    fake = FakePayPal()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


@pytest.fixture(scope="session")
def _paypal_server() -> Iterator[FakePayPal]:
    fake, server = start_fake_paypal()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_paypal(_paypal_server: FakePayPal) -> Iterator[FakePayPal]:
    _paypal_server.reset()
    yield _paypal_server
    _paypal_server.reset()
