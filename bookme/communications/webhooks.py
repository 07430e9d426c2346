"""Twilio webhooks: delivery status callbacks and inbound replies, authenticated by signature.

`X-Twilio-Signature` is checked with the SDK's RequestValidator against the exact URL Twilio
was given (`PUBLIC_BASE_URL` + path + query string) and the form fields; a missing or wrong
signature → 400 `invalid_signature`, and nothing changes.
"""

from __future__ import annotations

import uuid
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator

from bookme.communications import delivery, replies
from bookme.communications.models import Notification
from bookme.core import clock, errors, tenancy
from bookme.core.db import session, transactional

blp = Blueprint("twilio_webhooks", __name__)

STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"


def signed_url() -> str:
    """The URL Twilio signed: our public base URL, this path and the query string as sent."""
    base = current_app.config["BOOKME"].public_base_url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


FIELD_LIMITS_STATUS = {"MessageSid": 64, "MessageStatus": 32, "ErrorCode": 16}
FIELD_LIMITS_INBOUND = {"From": 64, "To": 64, "Body": 1600, "MessageSid": 64}


def check_signature(limits: dict[str, int]) -> dict[str, str]:
    """The signed form, or 400 `invalid_signature`; fields longer than Twilio sends → 400."""
    token = current_app.config["BOOKME"].twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    form = request.form.to_dict(flat=True)
    if (
        not token
        or not signature
        or len(signature) > 128
        or not RequestValidator(token).validate(signed_url(), form, signature)
    ):
        raise errors.InvalidSignature("The request is not signed by Twilio.")
    too_long = [name for name, limit in limits.items() if len(form.get(name, "")) > limit]
    if len(request.args.get("tenant", "")) > 63:
        too_long.append("tenant")
    if too_long:
        raise errors.BadRequest(f"Longer than Twilio sends: {', '.join(too_long)}.")
    return form


_XML = '<?xml version="1.0" encoding="UTF-8"?>'


def _twiml(text: str | None) -> Response:
    message = f"<Response><Message>{escape(text)}</Message></Response>" if text else "<Response/>"
    return Response(_XML + message, status=200, mimetype="text/xml")


@blp.route(STATUS_PATH, methods=["POST"])
def twilio_status() -> Response:
    form = check_signature(FIELD_LIMITS_STATUS)
    slug = request.args.get("tenant", "")
    tenant = None
    if slug:
        from bookme.tenants.service import tenant_ref_by_slug

        tenant = tenant_ref_by_slug(slug)  # unknown → 404 tenant_not_found
    if tenant is not None:
        with tenancy.using(tenant):
            record_status(
                tenant=tenant,
                notification_id=_uuid(request.args.get("notification")),
                message_sid=form.get("MessageSid", ""),
                status=form.get("MessageStatus", ""),
                error_code=form.get("ErrorCode") or None,
            )
    return Response("", status=200, mimetype="text/plain")


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


@transactional
def record_status(
    *,
    tenant: tenancy.TenantRef,
    notification_id: uuid.UUID | None,
    message_sid: str,
    status: str,
    error_code: str | None,
) -> bool:
    """Apply one status callback (forward only); unknown messages and statuses change nothing."""
    mapped = delivery.TWILIO_STATUSES.get(status)
    if mapped is None or not message_sid:
        return False
    stmt = sa.select(Notification).with_for_update()
    if notification_id is not None:
        stmt = stmt.where(
            Notification.id == notification_id,
            sa.or_(
                Notification.provider_message_id.is_(None),
                Notification.provider_message_id == message_sid,
            ),
        )
    else:
        stmt = stmt.where(Notification.provider_message_id == message_sid)
    row = session().scalars(stmt).one_or_none()
    if row is None:
        return False
    detail = f"Twilio reported {status} (error {error_code})." if error_code else None
    return delivery.apply_status(
        tenant=tenant,
        row=row,
        status=mapped,
        error=error_code,
        detail=detail,
        now=clock.now(),
        provider_message_id=message_sid,
    )


@blp.route(INBOUND_PATH, methods=["POST"])
def twilio_inbound() -> Response:
    form = check_signature(FIELD_LIMITS_INBOUND)
    answer = replies.handle_inbound(
        sender=form.get("From", ""),
        body=form.get("Body", ""),
        message_sid=form.get("MessageSid", ""),
        now=clock.now(),
    )
    return _twiml(answer.text)


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit}


def _form(fields: dict[str, int]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {name: _text(n) for name, n in fields.items()}}
    return {"content": {"application/x-www-form-urlencoded": {"schema": schema}}}


SIGNATURE = {"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": _text(128)}


def document(api: Any, app: Any) -> None:
    """Describe the webhooks in the OpenAPI document (they live outside /api/v1)."""
    spec = api.spec
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    if not any(tag.get("name") == "webhooks" for tag in spec.to_dict().get("tags", [])):
        spec.tag(
            {"name": "webhooks", "description": "Provider callbacks, authenticated by signature."}
        )
    problem = {
        "description": "Missing or wrong signature (`invalid_signature`)",
        "content": {errors.PROBLEM_MIMETYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    status = {
        "tags": ["webhooks"],
        "summary": "Twilio message status callback",
        "description": (
            "Signed with `X-Twilio-Signature` over the StatusCallback URL BookMe gave "
            "(`PUBLIC_BASE_URL` + path + query: `tenant`, `notification`) and the form fields. "
            "Statuses only move forward; a callback seen before changes nothing."
        ),
        "parameters": [
            {"name": "tenant", "in": "query", "schema": _text(63)},
            {"name": "notification", "in": "query", "schema": {"type": "string", "format": "uuid"}},
            SIGNATURE,
        ],
        "requestBody": _form(FIELD_LIMITS_STATUS),
        "responses": {
            "200": {"description": "Recorded (or nothing to do)"},
            "400": problem,
            "404": {**problem, "description": "Unknown tenant (`tenant_not_found`)"},
        },
    }
    inbound = {
        "tags": ["webhooks"],
        "summary": "Twilio inbound SMS / WhatsApp reply",
        "description": (
            "1/OUI/YES/OK/نعم confirm, 2/ANNULER/CANCEL/إلغاء cancel (before the cutoff), "
            "STOP/ARRET/توقف opt out of that channel, in any case and with or without accents. "
            "Answers TwiML in the customer's language; a MessageSid seen before gets an empty "
            "<Response/> and changes nothing."
        ),
        "parameters": [SIGNATURE],
        "requestBody": _form(FIELD_LIMITS_INBOUND),
        "responses": {
            "200": {"description": "TwiML", "content": {"text/xml": {"schema": _text(2000)}}},
            "400": problem,
        },
    }
    spec.path(rule=rules[STATUS_PATH], operations={"post": status})
    spec.path(rule=rules[INBOUND_PATH], operations={"post": inbound})


@blp.record_once
def _document_on_register(state: Any) -> None:
    from bookme.extensions import api

    document(api, state.app)
