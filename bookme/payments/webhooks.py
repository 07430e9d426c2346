"""Stripe and PayPal webhooks: signature first, then the event stored once, processed by a worker.

`POST /webhooks/stripe/<tenant_slug>`: `Stripe-Signature` checked by the Stripe SDK with the
tenant's webhook secret and a 300-second tolerance. `POST /webhooks/paypal/<tenant_slug>`:
PayPal's verify-webhook-signature call with the tenant's webhook id. A bad or missing
signature → 400 `invalid_signature`, nothing stored; an unknown tenant → 404
`tenant_not_found`. A verified event is inserted once (unique provider + event id) and a job
is enqueued after commit; the answer is 200 `{"received": true, "duplicate": …}`.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Blueprint, Response, request

from bookme.core import clock, errors, tenancy
from bookme.core.api import JSONRefused, read_json
from bookme.payments import service
from bookme.payments.providers import Rejected, Unreachable

blp = Blueprint("payment_webhooks", __name__)

STRIPE_PATH = "/webhooks/stripe/<tenant_slug>"
PAYPAL_PATH = "/webhooks/paypal/<tenant_slug>"
TOLERANCE_SECONDS = 300
MAX_BODY = 512 * 1024


_TENANT_TTL = 60.0
_tenants: dict[str, tuple[tenancy.TenantRef, float]] = {}


def _tenant(slug: str) -> tenancy.TenantRef:
    """The tenant named in the path (cached a minute per process: slugs and schemas never
    change, and payment events are accepted whatever the tenant's status)."""
    from bookme.tenants.service import tenant_ref_by_slug

    cached = _tenants.get(slug)
    if cached is not None and cached[1] > time.monotonic():
        tenant = cached[0]
    else:
        tenant = tenant_ref_by_slug(slug)  # unknown → 404 tenant_not_found
        _tenants[slug] = (tenant, time.monotonic() + _TENANT_TTL)
    tenancy.activate(tenant)
    return tenant


def _receive(slug: str, **kwargs: Any) -> bool:
    try:
        return service.receive_event(**kwargs)
    except sa.exc.DBAPIError:
        _tenants.pop(slug, None)  # a tenant deleted since it was cached: look it up afresh
        raise


def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY:
        raise errors.PayloadTooLarge("Webhook bodies are at most 512 KiB.")
    return request.get_data(cache=True)


def _parse(raw: bytes) -> Any:
    """The body's JSON (`read_json`); NaN, Infinity and numbers too large for a float read as
    null, and lone surrogates are let through for `_storable` to replace."""
    return read_json(raw, lone_surrogates=True, parse_constant=lambda _: None, parse_float=_finite)


def _finite(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """`value` as PostgreSQL can keep it (jsonb and text): a NUL or a lone surrogate in a
    string or key becomes U+FFFD. Providers sign what they are sent, and a customer's own
    words (a PayPal note to the payee) can carry anything."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _event(raw: bytes) -> dict[str, Any]:
    try:
        event = _parse(raw)
    except JSONRefused as exc:
        raise errors.InvalidJson(str(exc)) from exc
    except ValueError as exc:
        raise errors.InvalidJson("The body is not JSON.") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
        raise errors.InvalidJson("An event needs an id.")
    if _UNSTORABLE.search(event["id"]):  # the key events are told apart by: kept as sent
        raise errors.InvalidJson("An event id cannot hold a NUL or a lone surrogate.")
    kind = event.get("type") if "type" in event else event.get("event_type")
    if not isinstance(kind, str):
        raise errors.InvalidJson("An event needs a type.")
    stored: dict[str, Any] = _storable(event)
    return stored


def _received(new: bool) -> Response:
    return Response(
        json.dumps({"received": True, "duplicate": not new}),
        status=200,
        mimetype="application/json",
    )


def _stripe_verified(text: str, header: str, secret: str | None) -> bool:
    if not secret:
        return False
    try:
        stripe.WebhookSignature.verify_header(text, header, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        return False
    return True


@blp.route(STRIPE_PATH, methods=["POST"])
def stripe_webhook(tenant_slug: str) -> Response:
    tenant = _tenant(tenant_slug)
    raw = _body()
    header = request.headers.get("Stripe-Signature")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidSignature("The body is not what Stripe signs.") from exc
    if not header or not _stripe_verified(text, header, service.stripe_webhook_secret(tenant)):
        raise errors.InvalidSignature(
            "Missing or wrong Stripe-Signature (or no webhook secret is set up)."
        )
    event = _event(raw)
    new = _receive(
        tenant_slug,
        tenant=tenant,
        now=clock.now(),
        provider_name="stripe",
        event_id=event["id"],
        event_type=str(event.get("type")),
        payload=json.dumps(event),
    )
    return _received(new)


@blp.route(PAYPAL_PATH, methods=["POST"])
def paypal_webhook(tenant_slug: str) -> Response:
    tenant = _tenant(tenant_slug)
    raw = _body()
    found = service.paypal_for_webhooks()
    if found is None:
        raise errors.InvalidSignature("PayPal webhooks are not set up for this business.")
    remote, webhook_id = found
    try:
        parsed = _parse(raw)
    except ValueError as exc:
        raise errors.InvalidSignature("The body is not the signed JSON event.") from exc
    headers = {k.upper(): v for k, v in request.headers.items()}
    try:
        valid = remote.verify_webhook(headers=headers, webhook_id=webhook_id, event=parsed)
    except Rejected as exc:
        raise errors.InvalidSignature("PayPal did not verify this event.") from exc
    except Unreachable as exc:  # PayPal retries a 5xx: never store an unverified event
        raise errors.ServiceUnavailable(
            "PayPal's signature check could not be reached; retry later.",
            headers={"Retry-After": "60"},
        ) from exc
    if not valid:
        raise errors.InvalidSignature("PayPal did not verify this event.")
    event = _event(raw)
    new = _receive(
        tenant_slug,
        tenant=tenant,
        now=clock.now(),
        provider_name="paypal",
        event_id=event["id"],
        event_type=str(event.get("event_type")),
        payload=json.dumps(event),
    )
    return _received(new)


def document(api: Any, app: Any) -> None:
    """Describe the payment webhooks in the OpenAPI document (they live outside /api/v1)."""
    spec = api.spec
    if not any(tag.get("name") == "webhooks" for tag in spec.to_dict().get("tags", [])):
        spec.tag(
            {"name": "webhooks", "description": "Provider callbacks, authenticated by signature."}
        )
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}

    def problem(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {
                errors.PROBLEM_MIMETYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }

    slug = {
        "name": "tenant_slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]{2,62}$", "maxLength": 63},
    }
    ok = {
        "description": "Recorded once (`duplicate: true` when seen before), or ignored "
        "(an event type BookMe does not handle)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "received": {"type": "boolean"},
                        "duplicate": {"type": "boolean"},
                    },
                }
            }
        },
    }
    event_body = {
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}}
        }
    }
    responses = {
        "200": ok,
        "400": problem("Missing or wrong signature (`invalid_signature`), or not JSON"),
        "404": problem("Unknown tenant (`tenant_not_found`)"),
        "413": problem("Body over 512 KiB (`payload_too_large`)"),
    }
    spec.path(
        rule=rules[STRIPE_PATH],
        operations={
            "post": {
                "tags": ["webhooks"],
                "summary": "Stripe events for one business",
                "description": "Signed with `Stripe-Signature` and the business's `webhook_secret` "
                "(5-minute tolerance). Handles `payment_intent.succeeded`, "
                "`payment_intent.payment_failed`, `payment_intent.canceled`, "
                "`charge.refunded`, `refund.updated`; other types answer 200 and do "
                "nothing. Each event id is recorded once and processed by a worker.",
                "security": [],
                "parameters": [
                    slug,
                    {
                        "name": "Stripe-Signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 2000},
                    },
                ],
                "requestBody": event_body,
                "responses": responses,
            }
        },
    )
    spec.path(
        rule=rules[PAYPAL_PATH],
        operations={
            "post": {
                "tags": ["webhooks"],
                "summary": "PayPal events for one business",
                "description": "Verified with PayPal's verify-webhook-signature call and the "
                "business's `webhook_id`. Handles `CHECKOUT.ORDER.APPROVED` (captured), "
                "`PAYMENT.CAPTURE.COMPLETED`, `PAYMENT.CAPTURE.DENIED`, "
                "`PAYMENT.CAPTURE.REFUNDED`; other types answer 200 and do nothing. "
                "PayPal unreachable for the check → 503 (PayPal delivers again).",
                "security": [],
                "parameters": [slug]
                + [
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 2000},
                    }
                    for name in (
                        "PAYPAL-TRANSMISSION-ID",
                        "PAYPAL-TRANSMISSION-TIME",
                        "PAYPAL-TRANSMISSION-SIG",
                        "PAYPAL-CERT-URL",
                        "PAYPAL-AUTH-ALGO",
                    )
                ],
                "requestBody": event_body,
                "responses": {
                    **responses,
                    "503": problem("PayPal's check unreachable (`service_unavailable`)"),
                },
            }
        },
    )


@blp.record_once
def _document_on_register(state: Any) -> None:
    from bookme.extensions import api

    document(api, state.app)
