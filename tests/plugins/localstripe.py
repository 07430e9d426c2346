"""A localstripe server (a stateful fake Stripe) for the test session, started on first use.

`localstripe --from-scratch` on a free loopback port; the real `stripe` SDK talks to it
through `STRIPE_API_BASE`. It never sends webhooks: tests build and sign them with
`stripe_event(...)` and the SDK's own signature helper.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

WEBHOOK_SECRET = "whsec_test_" + "s" * 24
SECRET_KEY = "sk_test_bookme_" + "k" * 16
PUBLISHABLE_KEY = "pk_test_bookme_" + "p" * 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_localstripe() -> tuple[subprocess.Popen[bytes], str, Any]:
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the fixture
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"localstripe exited: {log.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("localstripe did not start within 30 s") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """The base URL of a localstripe server for the whole session."""
    proc, url, log = start_localstripe()
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def stripe_client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": url}, max_network_retries=0)


def pay_intent(url: str, intent_id: str) -> dict[str, Any]:
    """What the customer's browser does: attach a test card and confirm the intent."""
    client = stripe_client(url)
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    return client.v1.payment_intents.confirm(intent_id).to_dict()


def stripe_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }


def signed(
    event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[str, dict[str, str]]:
    """The body and headers of a webhook delivery signed as Stripe does."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}
