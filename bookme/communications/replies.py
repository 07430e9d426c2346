"""Inbound SMS and WhatsApp replies: find the booking, confirm, cancel or opt out, answer.

A reply finds its tenant through `public.notification_recipients` (the latest message sent to
that address on that channel), never by looking into tenant schemas. Each MessageSid is
recorded once; a repeat changes nothing and gets an empty answer.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bookme.communications import templates
from bookme.communications.models import Notification, NotificationRecipient, NotificationReply
from bookme.core import errors, tenancy
from bookme.core.db import session, transactional

CONFIRM_WORDS = frozenset({"1", "oui", "yes", "ok", "نعم"})
CANCEL_WORDS = frozenset({"2", "annuler", "cancel", "الغاء"})
STOP_WORDS = frozenset({"stop", "arret", "توقف"})
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def fold(text: str) -> str:
    """Case- and accent-free: ARRÊT → arret, إلغاء → الغاء, Arabic-Indic digits → 0-9."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if category == "Mn" or char == "\u0640":  # accents, Arabic vowel marks and hamza, tatweel
            continue
        out.append(str(unicodedata.digit(char)) if category == "Nd" else char)
    return " ".join("".join(out).casefold().split())


def intent(body: str) -> str:
    """confirm, cancel, stop or unknown: the message's first word decides."""
    words = [_EDGES.sub("", word) for word in fold(body).split()]
    words = [w for w in words if w]
    if not words:
        return "unknown"
    first = words[0]
    if first in CONFIRM_WORDS:
        return "confirm"
    if first in CANCEL_WORDS:
        return "cancel"
    if first in STOP_WORDS:
        return "stop"
    return "unknown"


def split_address(raw: str) -> tuple[str, str]:
    """`whatsapp:+212…` → ("whatsapp", "+212…"); `+212…` → ("sms", "+212…")."""
    if raw.startswith("whatsapp:"):
        return "whatsapp", raw[len("whatsapp:") :]
    return "sms", raw


@dataclass(frozen=True)
class Answer:
    text: str | None  # None: answer with an empty <Response/>


def route(channel: str, address: str) -> tuple[tenancy.TenantRef, uuid.UUID] | None:
    """The tenant and notification a reply from `address` belongs to."""
    from bookme.tenants.models import Tenant
    from bookme.tenants.service import to_ref

    row = (
        session()
        .execute(
            sa.select(NotificationRecipient.notification_id, Tenant)
            .join(Tenant, Tenant.id == NotificationRecipient.tenant_id)
            .where(
                NotificationRecipient.channel == channel, NotificationRecipient.address == address
            )
        )
        .first()
    )
    if row is None:
        return None
    return to_ref(row[1]), row[0]


def handle_inbound(*, sender: str, body: str, message_sid: str, now: datetime) -> Answer:
    channel, address = split_address(sender)
    found = route(channel, address)
    if found is None:
        return Answer(None)
    tenant, notification_id = found
    with tenancy.using(tenant):
        return _handle(
            tenant=tenant,
            notification_id=notification_id,
            channel=channel,
            body=body,
            message_sid=message_sid,
            now=now,
        )


@transactional
def _handle(
    *,
    tenant: tenancy.TenantRef,
    notification_id: uuid.UUID,
    channel: str,
    body: str,
    message_sid: str,
    now: datetime,
) -> Answer:
    notification = session().get(Notification, notification_id)
    action = intent(body)
    reply_id = (
        session()
        .execute(
            pg_insert(NotificationReply)
            .values(
                id=uuid.uuid4(),
                message_sid=message_sid,
                channel=channel,
                customer_id=notification.customer_id if notification else None,
                booking_id=notification.booking_id if notification else None,
                notification_id=notification_id if notification else None,
                body=body[:1600],
                action=action,
                outcome="pending",
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_sid"])
            .returning(NotificationReply.id)
        )
        .scalar_one_or_none()
    )
    if reply_id is None:
        return Answer(None)  # seen before
    if notification is None:
        _outcome(reply_id, "unknown_notification")
        return Answer(None)
    outcome, text = _act(
        tenant=tenant, notification=notification, channel=channel, action=action, body=body, now=now
    )
    _outcome(reply_id, outcome)
    return Answer(text)


def _outcome(reply_id: uuid.UUID, outcome: str) -> None:
    session().execute(
        sa.update(NotificationReply).where(NotificationReply.id == reply_id).values(outcome=outcome)
    )


def _act(
    *,
    tenant: tenancy.TenantRef,
    notification: Notification,
    channel: str,
    action: str,
    body: str,
    now: datetime,
) -> tuple[str, str]:
    from bookme.bookings import service as bookings
    from bookme.bookings.models import Booking
    from bookme.core import crypto
    from bookme.customers.models import Customer
    from bookme.customers.service import record_consent
    from bookme.users.access import CUSTOMER

    booking = session().get(Booking, notification.booking_id, with_for_update=True)
    customer = session().get(Customer, notification.customer_id)
    locale = (
        customer.locale
        if customer is not None and customer.locale in templates.BABEL_LOCALES
        else notification.locale
    )
    assert booking is not None
    ctx = _moment(tenant, booking.starts_at, locale)

    def say(key: str, **extra: str) -> str:
        return templates.reply_text(locale, key, **ctx, **extra)

    if action == "stop":
        record_consent(
            tenant=tenant,
            actor=CUSTOMER,
            now=now,
            customer_id=notification.customer_id,
            channel=channel,
            granted=False,
            source="reply",
            evidence=f"{channel} reply: {body[:200]}",
        )
        return "consent_withdrawn", say("stopped")
    if action == "unknown":
        return "help", say("help")
    if action == "confirm":
        if booking.status == "confirmed":
            return "already_confirmed", say("already_confirmed")
        if booking.status != "pending":
            return "not_active", say(
                "already_cancelled" if booking.status == "cancelled" else "not_active"
            )
        if booking.payment_due_at is not None:
            return "payment_required", say(
                "payment_required", manage_url=bookings.manage_url(booking)
            )
        try:
            with session().begin_nested():
                bookings.change_status(
                    tenant=tenant, actor=CUSTOMER, now=now, booking_id=booking.id, action="confirm"
                )
        except errors.BookMeError:
            return "not_active", say("not_active")
        return "confirmed", say("confirmed")
    # cancel
    if booking.status == "cancelled":
        return "already_cancelled", say("already_cancelled")
    if booking.status not in ("pending", "confirmed"):
        return "not_active", say("not_active")
    try:
        with session().begin_nested():
            bookings.cancel_managed_booking(
                tenant=tenant,
                actor=CUSTOMER,
                now=now,
                token=crypto.decrypt(booking.manage_token_encrypted),
                reason=f"{channel} reply",
            )
    except errors.CancellationWindowPassed:
        return "too_late", say("too_late")
    except errors.BookMeError:
        return "not_active", say("not_active")
    return "cancelled", say("cancelled")


def _moment(tenant: tenancy.TenantRef, starts_at: datetime, locale: str) -> dict[str, Any]:
    import zoneinfo

    from babel.dates import format_date

    local = starts_at.astimezone(zoneinfo.ZoneInfo(tenant.timezone))
    return {
        "date": format_date(local.date(), format="full", locale=templates.BABEL_LOCALES[locale]),
        "time": local.strftime("%H:%M"),
    }
