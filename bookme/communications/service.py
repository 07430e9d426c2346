"""Communications use cases: settings, templates, the outbox list and retry; booking reactions.

Booking changes reach this module as domain events delivered inside their transaction
(`booking.created`, `booking.confirmed`, …), so the outbox rows commit with the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_smorest.pagination import PaginationParameters

from bookme.communications import outbox, templates
from bookme.communications.models import (
    CHANNELS,
    EVENTS,
    LOCALES,
    Notification,
    NotificationRecipient,
    NotificationReply,
    NotificationSettings,
    NotificationTemplate,
)
from bookme.core import errors, events, tenancy
from bookme.core.api import paginate
from bookme.core.db import session, transactional
from bookme.users.access import Actor

# --- settings -----------------------------------------------------------------------------------


def get_settings(*, tenant: tenancy.TenantRef) -> dict[str, Any]:
    return outbox.preferences().as_dict()


@transactional
def update_settings(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Set the fields given, keep the others (PUT semantics of API.md)."""
    current = outbox.preferences().as_dict()
    if "events" in changes:
        current["events"] = {**current["events"], **changes["events"]}
    for key in (
        "channels",
        "reminder_offsets_minutes",
        "sms_sender",
        "whatsapp_sender",
        "email_from_name",
    ):
        if key in changes:
            current[key] = changes[key]
    if "reminder_offsets_minutes" in changes:
        current["reminder_offsets_minutes"] = sorted(
            set(current["reminder_offsets_minutes"]), reverse=True
        )
    row = session().get(NotificationSettings, True, with_for_update=True)
    if row is None:
        row = NotificationSettings(id=True)
        session().add(row)
    row.channels = list(current["channels"])
    row.reminder_offsets_minutes = list(current["reminder_offsets_minutes"])
    row.events = dict(current["events"])
    row.sms_sender = current["sms_sender"]
    row.whatsapp_sender = current["whatsapp_sender"]
    row.email_from_name = current["email_from_name"]
    row.updated_at = now
    session().flush()
    return outbox.preferences().as_dict()


# --- templates ----------------------------------------------------------------------------------


def check_template_key(*, event: str, channel: str, locale: str, **_: Any) -> None:
    """404 for an event, channel or locale that has no template (before any body is read)."""
    _check_key(event, channel, locale)


def _check_key(event: str, channel: str, locale: str) -> None:
    if event not in EVENTS or channel not in CHANNELS or locale not in LOCALES:
        raise errors.NotFound(
            "No such template: events, channels and locales are listed in the API."
        )


def _view(
    event: str, channel: str, locale: str, own: NotificationTemplate | None
) -> templates.Template:
    if own is None:
        return templates.default_template(event, channel, locale)
    return templates.Template(
        event=event,
        channel=channel,
        locale=locale,
        subject=own.subject,
        body=own.body,
        content_sid=own.content_sid,
        content_variables=tuple(own.content_variables),
        is_default=False,
    )


def list_templates(*, tenant: tenancy.TenantRef) -> list[templates.Template]:
    """Every template in force: the tenant's own, else the shipped default."""
    own = outbox.overrides()
    return [
        _view(event, channel, locale, own.get((event, channel, locale)))
        for event in EVENTS
        for channel in CHANNELS
        for locale in LOCALES
    ]


def _validate(channel: str, locale: str, data: Mapping[str, Any], now: datetime) -> None:
    problems: dict[str, list[str]] = {}
    if channel == "email":
        if not data.get("subject"):
            problems["subject"] = ["An email template needs a subject."]
    elif data.get("subject") is not None:
        problems["subject"] = ["Only email templates have a subject."]
    if channel != "whatsapp":
        for name in ("content_sid", "content_variables"):
            if data.get(name):
                problems[name] = ["Only WhatsApp templates have this field."]
    for name in ("subject", "body"):
        if data.get(name):
            found = templates.problems(data[name])
            if not found:
                try:  # what the sandbox refuses only shows when rendering
                    templates.render(data[name], _sample(tenancy.require(), locale, now))
                except templates.TemplateProblem as exc:
                    found = [str(exc)]
            if found:
                problems[name] = found
    unknown = [v for v in data.get("content_variables") or [] if v not in templates.VARIABLES]
    if unknown:
        problems["content_variables"] = [f"Unknown variable: {name}" for name in unknown]
    if data.get("content_variables") and not data.get("content_sid"):
        problems.setdefault("content_sid", []).append("content_variables need a content_sid.")
    if problems:
        raise errors.validation_error(problems)


@transactional
def put_template(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    event: str,
    channel: str,
    locale: str,
    data: Mapping[str, Any],
) -> templates.Template:
    _check_key(event, channel, locale)
    _validate(channel, locale, data, now)
    row = session().scalar(
        sa.select(NotificationTemplate)
        .where(
            NotificationTemplate.event == event,
            NotificationTemplate.channel == channel,
            NotificationTemplate.locale == locale,
        )
        .with_for_update()
    )
    if row is None:
        row = NotificationTemplate(event=event, channel=channel, locale=locale, created_at=now)
        session().add(row)
    row.subject = data.get("subject") if channel == "email" else None
    row.body = data["body"]
    row.content_sid = data.get("content_sid") if channel == "whatsapp" else None
    row.content_variables = (
        list(data.get("content_variables") or []) if channel == "whatsapp" else []
    )
    row.updated_at = now
    session().flush()
    return _view(event, channel, locale, row)


@transactional
def delete_template(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, event: str, channel: str, locale: str
) -> None:
    """Back to the shipped default (idempotent)."""
    _check_key(event, channel, locale)
    session().execute(
        sa.delete(NotificationTemplate).where(
            NotificationTemplate.event == event,
            NotificationTemplate.channel == channel,
            NotificationTemplate.locale == locale,
        )
    )


def _sample(tenant: tenancy.TenantRef, locale: str, now: datetime) -> dict[str, Any]:
    from bookme.communications.delivery import business_name

    starts = (now + timedelta(days=2)).replace(hour=10, minute=30, second=0, microsecond=0)
    return templates.context(
        customer_name=SAMPLE_CUSTOMERS[locale],
        business_name=business_name(tenant),
        service_name=SAMPLE_SERVICES[locale],
        staff_name="Nadia",
        starts_at=starts,
        duration_minutes=45,
        price=Decimal("150.00"),
        currency=tenant.currency,
        manage_url=f"{outbox.settings().public_base_url}/m/{'x' * 32}",
        timezone=tenant.timezone,
        locale=locale,
    )


SAMPLE_CUSTOMERS = {"fr": "Salma Bennani", "ar": "سلمى بناني", "en": "Salma Bennani"}
SAMPLE_SERVICES = {"fr": "Coupe et brushing", "ar": "قص وتصفيف الشعر", "en": "Cut and blow-dry"}


def preview_template(
    *,
    tenant: tenancy.TenantRef,
    now: datetime,
    event: str,
    channel: str,
    locale: str,
    data: Mapping[str, Any],
) -> dict[str, str | None]:
    """Render the given (or the in-force) subject and body with sample data."""
    _check_key(event, channel, locale)
    current = _view(event, channel, locale, outbox.overrides().get((event, channel, locale)))
    subject = data.get("subject", current.subject) if channel == "email" else None
    body = data.get("body", current.body)
    problems = {}
    for name, source in (("subject", subject), ("body", body)):
        if source:
            found = templates.problems(source)
            if found:
                problems[name] = found
    if problems:
        raise errors.validation_error(problems)
    ctx = _sample(tenant, locale, now)

    def render(name: str, source: str) -> str:
        try:
            return templates.render(source, ctx)
        except templates.TemplateProblem as exc:  # named for the part that failed
            raise errors.validation_error({name: [str(exc)]}) from exc

    return {
        "subject": templates.one_line(render("subject", subject)) if subject else None,
        "body": render("body", body),
    }


# --- the outbox ---------------------------------------------------------------------------------


def list_notifications(
    *, tenant: tenancy.TenantRef, args: Mapping[str, Any], pagination: PaginationParameters
) -> list[Notification]:
    stmt = sa.select(Notification)
    for name in ("booking_id", "customer_id", "event", "channel", "status"):
        if args.get(name) is not None:
            stmt = stmt.where(getattr(Notification, name) == args[name])
    return paginate(
        stmt.order_by(Notification.created_at.desc(), Notification.id.desc()), pagination
    )


def list_booking_notifications(
    *, tenant: tenancy.TenantRef, booking_id: uuid.UUID, pagination: PaginationParameters
) -> list[Notification]:
    from bookme.bookings.models import Booking

    if session().get(Booking, booking_id) is None:
        raise errors.NotFound("No such booking.")
    return list_notifications(tenant=tenant, args={"booking_id": booking_id}, pagination=pagination)


def get_notification(*, tenant: tenancy.TenantRef, notification_id: uuid.UUID) -> Notification:
    row = session().get(Notification, notification_id)
    if row is None:
        raise errors.NotFound("No such notification.")
    return row


@transactional
def retry_notification(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, notification_id: uuid.UUID
) -> Notification:
    """A failed notification goes back to the queue; any other status → 409."""
    row = session().get(Notification, notification_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise errors.NotFound("No such notification.")
    if row.status != "failed":
        raise errors.InvalidTransition(
            f"Only failed notifications can be retried; this one is {row.status}."
        )
    row.status = "queued"
    row.next_attempt_at = None
    # A failed row's last call is settled (the provider said it failed): a retry sends anew,
    # where a row still in doubt would only be looked up and matched to that failed message.
    row.in_doubt_since = None
    row.failed_at = None
    row.updated_at = now
    session().flush()
    redispatch = timedelta(seconds=outbox.settings().notify_redispatch_seconds)
    outbox.set_due(tenant, [(row.id, "send", now + redispatch)])
    outbox.enqueue_after_commit(tenant, [row.id])
    return row


# --- reactions to booking changes (inside the booking's transaction) ----------------------------

_ALL_BUT_CANCELLED = tuple(e for e in EVENTS if e != "booking_cancelled")


@events.subscribe("booking.created")
def _booking_created(
    *, booking: Any, customer: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any
) -> None:
    if booking.status == "confirmed":
        outbox.announce(
            tenant=tenant, booking=booking, customer=customer, now=now,
            event="booking_confirmed", reminders=True,
        )  # fmt: skip
    elif booking.status == "pending":
        outbox.announce(
            tenant=tenant, booking=booking, customer=customer, now=now, event="booking_created"
        )


@events.subscribe("booking.confirmed")
def _booking_confirmed(*, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any) -> None:
    outbox.announce(
        tenant=tenant, booking=booking, now=now, event="booking_confirmed", reminders=True
    )


@events.subscribe("booking.rescheduled")
def _booking_rescheduled(
    *, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any
) -> None:
    outbox.notify(tenant=tenant, booking=booking, event="booking_rescheduled", now=now)
    if booking.status == "confirmed":
        outbox.retime_reminders(tenant=tenant, booking=booking, now=now)


@events.subscribe("booking.cancelled")
def _booking_cancelled(*, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any) -> None:
    outbox.cancel_pending(tenant=tenant, booking_id=booking.id, now=now, events=_ALL_BUT_CANCELLED)
    outbox.notify(tenant=tenant, booking=booking, event="booking_cancelled", now=now)


@events.subscribe("booking.completed")
@events.subscribe("booking.no_show")
def _booking_over(*, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any) -> None:
    outbox.cancel_pending(
        tenant=tenant, booking_id=booking.id, now=now, events=("booking_reminder",)
    )


@events.subscribe("payment.succeeded")
def _payment_succeeded(
    *, payment: Any, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any
) -> None:
    """The receipt of this payment, written in the payment's transaction."""
    outbox.announce(
        tenant=tenant, booking=booking, now=now, event="payment_receipt", reference_id=payment.id
    )


@events.subscribe("payment.refunded")
def _payment_refunded(
    *, refund: Any, booking: Any, tenant: tenancy.TenantRef, now: datetime, **_: Any
) -> None:
    outbox.announce(
        tenant=tenant, booking=booking, now=now, event="payment_refunded", reference_id=refund.id
    )


# --- customers: erasure and export -------------------------------------------------------------


@events.subscribe("customer_erased")
def _customer_erased(
    *, tenant: tenancy.TenantRef, customer_id: uuid.UUID, now: datetime, **_: Any
) -> None:
    """Scrub the addresses and reply texts copied here; stop what has not gone out."""
    ids = list(
        session().scalars(sa.select(Notification.id).where(Notification.customer_id == customer_id))
    )
    pending = list(
        session().scalars(
            sa.update(Notification)
            .where(Notification.customer_id == customer_id, Notification.status.in_(outbox.LIVE))
            .values(status="cancelled", error="customer_erased", updated_at=now)
            .returning(Notification.id)
        )
    )
    outbox.clear_due(tenant, pending)
    session().execute(
        sa.update(Notification)
        .where(Notification.customer_id == customer_id)
        .values(to=None, error_detail=None, updated_at=now)
    )
    session().execute(
        sa.update(NotificationReply)
        .where(NotificationReply.customer_id == customer_id)
        .values(body=None)
    )
    if ids:
        session().execute(
            sa.delete(NotificationRecipient).where(
                NotificationRecipient.tenant_id == tenant.id,
                NotificationRecipient.notification_id.in_(ids),
            )
        )


def _export(*, tenant: tenancy.TenantRef, customer_id: uuid.UUID) -> dict[str, Any]:
    rows = session().scalars(
        sa.select(Notification)
        .where(Notification.customer_id == customer_id)
        .order_by(Notification.created_at, Notification.scheduled_for, Notification.id)
    )
    replies = session().scalars(
        sa.select(NotificationReply)
        .where(NotificationReply.customer_id == customer_id)
        .order_by(NotificationReply.received_at)
    )
    return {
        "messages": [
            {
                "id": r.id,
                "booking_id": r.booking_id,
                "event": r.event,
                "channel": r.channel,
                "to": r.to,
                "status": r.status,
                "sent_at": r.sent_at,
                "delivered_at": r.delivered_at,
                "created_at": r.created_at,
            }
            for r in rows
        ],
        "replies": [
            {"channel": r.channel, "body": r.body, "action": r.action, "received_at": r.received_at}
            for r in replies
        ],
    }


def _register_export() -> None:
    from bookme.customers.service import export_sections, register_export_section

    if "notifications" not in export_sections():
        register_export_section("notifications", _export)


_register_export()
