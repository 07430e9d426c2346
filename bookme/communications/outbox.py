"""Writing the outbox: which messages a booking change causes, on which channel, and when.

Everything here runs inside the transaction of the change (booking events are delivered
synchronously), so a notification exists if and only if its cause committed. Sending is
left to workers: queued rows are enqueued after the commit, and every row that needs a
worker has a `public.notification_due` entry, which the dispatcher reads if the enqueue is
lost.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from bookme.communications import channels as channel_registry
from bookme.communications.models import (
    EVENTS,
    LOCALES,
    Notification,
    NotificationReply,
    NotificationSettings,
    NotificationTemplate,
)
from bookme.config import Settings
from bookme.core import tenancy
from bookme.core.db import driver_rows, session
from bookme.core.ids import uuid7

DEFAULT_CHANNELS = ("whatsapp", "sms", "email")
DEFAULT_REMINDER_OFFSETS = (1440, 120)
WHATSAPP_WINDOW = timedelta(hours=24)
LIVE = ("scheduled", "queued")  # not yet handed to a worker's provider call


def settings() -> Settings:
    return current_app.config["BOOKME"]


# --- tenant preferences -----------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    channels: tuple[str, ...]
    reminder_offsets_minutes: tuple[int, ...]
    events: dict[str, bool]
    sms_sender: str | None
    whatsapp_sender: str | None
    email_from_name: str | None

    def sends(self, event: str) -> bool:
        return bool(self.events.get(event, True))

    def sender(self, channel: str) -> str | None:
        own = {"sms": self.sms_sender, "whatsapp": self.whatsapp_sender}.get(channel)
        return own or channel_registry.default_sender(channel, settings())

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "reminder_offsets_minutes": list(self.reminder_offsets_minutes),
            "events": dict(self.events),
            "sms_sender": self.sms_sender,
            "whatsapp_sender": self.whatsapp_sender,
            "email_from_name": self.email_from_name,
        }


def preferences() -> Preferences:
    """The current tenant's notification settings, defaults filled in."""
    return _preferences(session().get(NotificationSettings, True))


def _preferences(row: Any) -> Preferences:
    events = {event: True for event in EVENTS}
    if row is None:
        return Preferences(DEFAULT_CHANNELS, DEFAULT_REMINDER_OFFSETS, events, None, None, None)
    events.update({k: bool(v) for k, v in (row.events or {}).items() if k in events})
    return Preferences(
        tuple(row.channels),
        tuple(row.reminder_offsets_minutes),
        events,
        row.sms_sender,
        row.whatsapp_sender,
        row.email_from_name,
    )


# --- templates in force -----------------------------------------------------------------------


def overrides(
    keys: Iterable[tuple[str, str, str]] | None = None,
) -> dict[tuple[str, str, str], Any]:
    """The tenant's own templates, by (event, channel, locale)."""
    stmt = sa.select(NotificationTemplate)
    found = {(t.event, t.channel, t.locale): t for t in session().scalars(stmt)}
    if keys is None:
        return found
    wanted = set(keys)
    return {k: v for k, v in found.items() if k in wanted}


# What announcing a booking change reads, in one round trip and without building ORM objects
# (it runs on every booking write): the settings row (at most one; NULLs when the tenant has
# none) beside each of the tenant's WhatsApp templates, all channel choice needs of them.
_PREFERENCES_AND_WHATSAPP = sa.text(
    """
    SELECT s.id AS settings_id, s.channels, s.reminder_offsets_minutes, s.events, s.sms_sender,
           s.whatsapp_sender, s.email_from_name, t.event, t.channel, t.locale, t.content_sid
      FROM (SELECT 1) AS one
      LEFT JOIN notification_settings s ON true
      LEFT JOIN notification_templates t ON t.channel = 'whatsapp'
    """
)


def preferences_and_whatsapp_templates() -> tuple[Preferences, dict[tuple[str, str, str], Any]]:
    """`preferences()`, and the tenant's own WhatsApp templates by (event, channel, locale)."""
    rows = driver_rows(_PREFERENCES_AND_WHATSAPP, {})
    own = {(r.event, r.channel, r.locale): r for r in rows if r.event is not None}
    head = rows[0]
    return _preferences(head if head.settings_id is not None else None), own


def content_sid_for(event: str, locale: str, own: dict[tuple[str, str, str], Any]) -> str | None:
    template = own.get((event, "whatsapp", locale))
    return template.content_sid if template is not None else None


# --- the customer and the channel -------------------------------------------------------------


def customer_locale(customer: Any, tenant: tenancy.TenantRef) -> str:
    locale = getattr(customer, "locale", None)
    if locale in LOCALES:
        return str(locale)
    return tenant.locale if tenant.locale in LOCALES else "fr"


def address_of(customer: Any, channel: str) -> str | None:
    if customer is None or not customer.is_active:
        return None
    return customer.email if channel == "email" else customer.phone


def consent_withdrawn(customer: Any, channel: str) -> bool:
    return getattr(customer, f"consent_{channel}") is False


def whatsapp_window_until(customer_id: uuid.UUID) -> datetime | None:
    """When the customer's 24-hour WhatsApp window closes (None: no message from them)."""
    last = session().scalar(
        sa.select(sa.func.max(NotificationReply.received_at)).where(
            NotificationReply.customer_id == customer_id, NotificationReply.channel == "whatsapp"
        )
    )
    return last + WHATSAPP_WINDOW if last is not None else None


@dataclass(frozen=True)
class Choice:
    channel: str | None
    to: str | None
    error: str | None = None
    detail: str | None = None


def choose_channel(
    *,
    customer: Any,
    prefs: Preferences,
    event: str,
    locale: str,
    at: datetime,
    own_templates: dict[tuple[str, str, str], Any],
    window_until: Callable[[], datetime | None],
    exclude: Sequence[str] = (),
) -> Choice:
    """API.md: the first of the tenant's channels with an address and consent not withdrawn;
    WhatsApp outside the customer's 24-hour window (`window_until()`, asked only when it
    matters) only with an approved template."""
    unconfigured = []
    for channel in prefs.channels:
        if channel in exclude:
            continue
        to = address_of(customer, channel)
        if not to or consent_withdrawn(customer, channel):
            continue
        if not channel_registry.usable(channel, settings(), prefs.sender(channel)):
            unconfigured.append(channel)
            continue
        if channel == "whatsapp" and not content_sid_for(event, locale, own_templates):
            closes = window_until()
            if closes is None or closes <= at:
                continue
        return Choice(channel, to)
    if unconfigured:
        return Choice(
            None,
            None,
            "channel_not_configured",
            f"No provider is configured for {', '.join(unconfigured)}.",
        )
    return Choice(None, None, "no_channel", "The customer has no reachable channel with consent.")


# --- writing rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    id: uuid.UUID
    status: str
    due_at: datetime | None


@dataclass(frozen=True)
class Spec:
    """One message to write: its event, and for a reminder its offset and time."""

    event: str
    reminder_offset: int | None = None
    scheduled_for: datetime | None = None
    fallback_of: uuid.UUID | None = None
    exclude: tuple[str, ...] = ()
    reference_id: uuid.UUID | None = None  # the payment or refund a receipt is about


# One round trip, one statement text (so prepared once per connection): the rows come in as
# one JSON array (`_rows_json`); those already written (the dedupe index) are skipped, and
# each row inserted that needs a worker gets its `public.notification_due` entry.
# JSON rather than a typed array per column: psycopg adapts a Python list element by element
# in Python (about 200 µs of CPU for a booking's three messages, more than the statement
# takes in PostgreSQL), while one string goes as it is.
_WRITE = sa.text(
    """
    WITH given AS (
        SELECT * FROM json_to_recordset(CAST(:rows AS json))
            AS x(id uuid, event text, channel text, "to" text, status text,
                 scheduled_for timestamptz, reminder_offset integer, reference_id uuid,
                 error text, error_detail text, fallback_of uuid, due_at timestamptz)
    ), written AS (
        INSERT INTO notifications (id, booking_id, customer_id, event, channel, locale, "to",
                                   status, scheduled_for, reminder_offset_minutes,
                                   appointment_at, reference_id, error, error_detail,
                                   fallback_of, created_at, updated_at)
        SELECT id, :booking_id, :customer_id, event, channel, :locale, "to", status,
               scheduled_for, reminder_offset, :appointment_at, reference_id, error,
               error_detail, fallback_of, :now, :now
          FROM given
        ON CONFLICT (booking_id, event, channel, reminder_offset_minutes, appointment_at,
                     reference_id) WHERE status <> 'cancelled'
        DO NOTHING
        RETURNING id, status
    ), due AS (
        INSERT INTO public.notification_due (tenant_id, notification_id, kind, due_at)
        SELECT :tenant_id, g.id, 'send', g.due_at
          FROM written w JOIN given g ON g.id = w.id
         WHERE g.due_at IS NOT NULL
        ON CONFLICT (tenant_id, notification_id)
        DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at
    )
    SELECT id, status FROM written
    """
)


def _json_scalar(value: Any) -> str:
    """JSON for the values `json` can't write itself: ids, and instants (ISO 8601, with
    their offset, which PostgreSQL reads back as the same instant)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("notification times must be timezone-aware")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not written to the outbox")


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_scalar, ensure_ascii=False, separators=(",", ":"))


def write_many(
    *,
    tenant: tenancy.TenantRef,
    booking: Any,
    customer: Any,
    specs: Sequence[Spec],
    now: datetime,
    prefs: Preferences,
    own_templates: dict[tuple[str, str, str], Any],
) -> list[Written]:
    """Insert these notifications (queued, scheduled or skipped) in one statement, skipping
    any that already exist, and give each that needs a worker its due entry."""
    if not specs:
        return []
    locale = customer_locale(customer, tenant)
    redispatch = timedelta(seconds=settings().notify_redispatch_seconds)
    window_until = functools.cache(lambda: whatsapp_window_until(customer.id))  # read once
    values, due_at = [], {}
    for spec in specs:
        at = spec.scheduled_for or now
        choice = choose_channel(
            customer=customer, prefs=prefs, event=spec.event, locale=locale, at=at,
            own_templates=own_templates, window_until=window_until, exclude=spec.exclude,
        )  # fmt: skip
        if choice.channel is None:
            status = "skipped"
        elif spec.scheduled_for is not None and spec.scheduled_for > now:
            status = "scheduled"
        else:
            status = "queued"
        row_id = uuid7()
        # Queued rows are enqueued after the commit; their due entry is the dispatcher's
        # copy, taken up only if that enqueue is lost.
        if status != "skipped":
            due_at[row_id] = at if status == "scheduled" else now + redispatch
        values.append({
            "id": row_id, "event": spec.event, "channel": choice.channel, "to": choice.to,
            "status": status, "scheduled_for": at, "reminder_offset": spec.reminder_offset,
            "reference_id": spec.reference_id, "error": choice.error,
            "error_detail": choice.detail, "fallback_of": spec.fallback_of,
            "due_at": due_at.get(row_id),
        })  # fmt: skip
    inserted = driver_rows(
        _WRITE,
        {
            "rows": _rows_json(values),
            "booking_id": booking.id,
            "customer_id": booking.customer_id,
            "locale": locale,
            "appointment_at": booking.starts_at,
            "now": now,
            "tenant_id": tenant.id,
        },
    )
    return [Written(rid, status, due_at.get(rid)) for rid, status in inserted]


def write(
    *,
    tenant: tenancy.TenantRef,
    booking: Any,
    customer: Any,
    event: str,
    now: datetime,
    prefs: Preferences,
    own_templates: dict[tuple[str, str, str], Any],
    reminder_offset: int | None = None,
    scheduled_for: datetime | None = None,
    fallback_of: uuid.UUID | None = None,
    exclude: Sequence[str] = (),
    reference_id: uuid.UUID | None = None,
) -> Written | None:
    """Insert one notification; None when it already exists."""
    spec = Spec(event, reminder_offset, scheduled_for, fallback_of, tuple(exclude), reference_id)
    written = write_many(
        tenant=tenant, booking=booking, customer=customer, specs=[spec], now=now, prefs=prefs,
        own_templates=own_templates,
    )  # fmt: skip
    return written[0] if written else None


_SET_DUE = sa.text(
    """
    INSERT INTO public.notification_due (tenant_id, notification_id, kind, due_at)
    SELECT :tenant_id, x.id, x.kind, x.at
      FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:ats AS timestamptz[]))
           AS x(id, kind, at)
    ON CONFLICT (tenant_id, notification_id)
    DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at
    """
)


def set_due(tenant: tenancy.TenantRef, entries: Sequence[tuple[uuid.UUID, str, datetime]]) -> None:
    """Work a worker must do for these notifications, and when (one entry per notification)."""
    if not entries:
        return
    ids, kinds, ats = zip(*entries, strict=True)
    session().execute(
        _SET_DUE,
        {"tenant_id": tenant.id, "ids": list(ids), "kinds": list(kinds), "ats": list(ats)},
    )


def clear_due(tenant: tenancy.TenantRef, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        session().execute(
            sa.text(
                "DELETE FROM public.notification_due "
                "WHERE tenant_id = :tenant_id AND notification_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"tenant_id": tenant.id, "ids": list(ids)},
        )


def enqueue_after_commit(tenant: tenancy.TenantRef, ids: Sequence[uuid.UUID]) -> None:
    """Send these queued rows as soon as the transaction commits (one job per batch)."""
    if not ids:
        return
    from bookme.communications import tasks
    from bookme.core.tasks import enqueue_after_commit as after_commit

    size = settings().notify_batch_size
    for start in range(0, len(ids), size):
        after_commit(
            tasks.send_notifications,
            tenant=tenant.slug,
            ids=[str(i) for i in ids[start : start + size]],
        )


# --- reacting to booking changes --------------------------------------------------------------


def _customer(customer_id: uuid.UUID) -> Any:
    from bookme.customers.models import Customer

    return session().get(Customer, customer_id)


def reminder_specs(booking: Any, prefs: Preferences, now: datetime) -> list[Spec]:
    """One reminder per configured offset whose time is still ahead."""
    if not prefs.sends("booking_reminder"):
        return []
    specs = []
    for offset in sorted(set(prefs.reminder_offsets_minutes), reverse=True):
        at = booking.starts_at - timedelta(minutes=offset)
        if at > now:
            specs.append(Spec("booking_reminder", reminder_offset=offset, scheduled_for=at))
    return specs


def announce(
    *,
    tenant: tenancy.TenantRef,
    booking: Any,
    now: datetime,
    event: str | None = None,
    reminders: bool = False,
    reference_id: uuid.UUID | None = None,
    customer: Any = None,
) -> list[Written]:
    """Write what a booking change sends: `event`'s message (if the tenant sends it) and,
    with `reminders`, the reminders still ahead; queued ones are enqueued after the commit.
    The booking's `customer` is read when the caller does not give it."""
    prefs, own_templates = preferences_and_whatsapp_templates()
    specs = []
    if event is not None and prefs.sends(event):
        specs.append(Spec(event, reference_id=reference_id))
    if reminders:
        specs += reminder_specs(booking, prefs, now)
    if not specs:
        return []
    written = write_many(
        tenant=tenant, booking=booking, specs=specs, now=now, prefs=prefs,
        customer=customer if customer is not None else _customer(booking.customer_id),
        own_templates=own_templates,
    )  # fmt: skip
    enqueue_after_commit(tenant, [w.id for w in written if w.status == "queued"])
    return written


def notify(*, tenant: tenancy.TenantRef, booking: Any, event: str, now: datetime) -> list[Written]:
    """Write the message `event` sends about `booking` (if the tenant sends it)."""
    return announce(tenant=tenant, booking=booking, now=now, event=event)


def schedule_reminders(*, tenant: tenancy.TenantRef, booking: Any, now: datetime) -> list[Written]:
    """One reminder per configured offset still ahead (rows already there are kept)."""
    return announce(tenant=tenant, booking=booking, now=now, reminders=True)


def cancel_pending(
    *, tenant: tenancy.TenantRef, booking_id: uuid.UUID, now: datetime, events: Sequence[str]
) -> list[uuid.UUID]:
    """Cancel this booking's messages not yet handed to a provider, for these events."""
    ids = list(
        session().scalars(
            sa.update(Notification)
            .where(
                Notification.booking_id == booking_id,
                Notification.event.in_(list(events)),
                Notification.status.in_(LIVE),
            )
            .values(status="cancelled", updated_at=now)
            .returning(Notification.id)
        )
    )
    clear_due(tenant, ids)
    return ids


def retime_reminders(*, tenant: tenancy.TenantRef, booking: Any, now: datetime) -> None:
    """After a reschedule: waiting reminders move with the booking (or are cancelled when
    their time has passed), and offsets without a waiting reminder get one."""
    rows = list(
        session().scalars(
            sa.select(Notification)
            .where(
                Notification.booking_id == booking.id,
                Notification.event == "booking_reminder",
                Notification.status == "scheduled",
            )
            .with_for_update()
        )
    )
    moved = []
    for row in rows:
        at = booking.starts_at - timedelta(minutes=row.reminder_offset_minutes or 0)
        duplicate = session().scalar(
            sa.select(sa.literal(True)).where(
                Notification.booking_id == booking.id,
                Notification.event == "booking_reminder",
                Notification.channel == row.channel,
                Notification.reminder_offset_minutes == row.reminder_offset_minutes,
                Notification.appointment_at == booking.starts_at,
                Notification.status != "cancelled",
                Notification.id != row.id,
            )
        )
        if at <= now or duplicate:
            row.status = "cancelled"
            row.updated_at = now
            clear_due(tenant, [row.id])
            continue
        row.scheduled_for = at
        row.appointment_at = booking.starts_at
        row.updated_at = now
        moved.append((row.id, "send", at))
    session().flush()
    set_due(tenant, moved)
    schedule_reminders(tenant=tenant, booking=booking, now=now)
