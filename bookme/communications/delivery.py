"""Sending the outbox, exactly once: dispatch, claim, send in parallel, record, reconcile, poll.

- The dispatcher reads `public.notification_due` (one index, whatever the number of tenants),
  pushes each entry's `due_at` ahead by the redispatch delay and enqueues one job per ≤ 100
  rows. A lost job is therefore dispatched again after that delay; nothing waits on Redis.
- A job claims its rows with `FOR UPDATE SKIP LOCKED` and a lease (`sending` until
  `claimed_until`) and marks them in doubt before calling any provider. Each outcome is
  recorded as it comes back, the provider's id in the same UPDATE that marks `sent`.
- A row whose lease ran out (a killed worker) or whose call ended without an answer (a read
  timeout) is still in doubt: its next claim looks the message up at the provider first
  (Twilio: by recipient and time), and sends only if the provider never took it (email has
  no lookup: it goes again with the same Message-ID).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bookme.communications import channels as channel_registry
from bookme.communications import outbox, templates
from bookme.communications.channels import (
    Channel,
    Message,
    PermanentFailure,
    ProviderStatus,
    SendFailed,
    Sent,
    TemporaryFailure,
)
from bookme.communications.models import Notification, NotificationReply
from bookme.core import tenancy
from bookme.core.db import session, transactional

log = logging.getLogger("bookme.notifications")

MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
POLL_GIVE_UP = timedelta(hours=48)
OPT_OUT_CODE = "21610"
RECORD_EVERY = 0.05  # seconds an outcome may wait to be written with others
RECORD_BATCH = 25
RANK = {"scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
TWILIO_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th call failed: 30 s, 1, 2, 4, 8, 16, 32 min (then 1 h)."""
    return timedelta(
        seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)
    )


# --- the dispatcher ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DueEntry:
    tenant_slug: str
    notification_id: uuid.UUID
    kind: str


_TAKE_DUE = sa.text(
    """
    WITH due AS (
        SELECT tenant_id, notification_id FROM public.notification_due
         WHERE due_at <= :now
         ORDER BY due_at
         LIMIT :limit
         FOR UPDATE SKIP LOCKED
    )
    UPDATE public.notification_due d
       SET due_at = :redispatch_at
      FROM due
     WHERE d.tenant_id = due.tenant_id AND d.notification_id = due.notification_id
    RETURNING d.tenant_id, d.notification_id, d.kind,
              (SELECT t.slug FROM public.tenants t WHERE t.id = d.tenant_id) AS slug
    """
)


@transactional
def take_due(*, now: datetime, limit: int) -> list[DueEntry]:
    """Due entries, pushed ahead by the redispatch delay (so a lost job comes back)."""
    redispatch = timedelta(seconds=outbox.settings().notify_redispatch_seconds)
    rows = (
        session()
        .execute(_TAKE_DUE, {"now": now, "limit": limit, "redispatch_at": now + redispatch})
        .all()
    )
    return [DueEntry(r.slug, r.notification_id, r.kind) for r in rows if r.slug is not None]


def dispatch(*, now: datetime, max_rows: int = 100_000) -> int:
    """Enqueue every due notification, one job per tenant and ≤ batch-size rows."""
    from rq import Queue

    from bookme.communications import tasks
    from bookme.core.tasks import queue

    size = outbox.settings().notify_batch_size
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    total = 0
    while total < max_rows:  # take everything due first, so each tenant's rows fill whole jobs
        entries = take_due(now=now, limit=min(size * 20, max_rows - total))
        for entry in entries:
            groups[(entry.tenant_slug, entry.kind)].append(str(entry.notification_id))
        total += len(entries)
        if len(entries) < size * 20:
            break
    jobs = []
    for (slug, kind), ids in groups.items():
        fn = tasks.send_notifications if kind == "send" else tasks.poll_notifications
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            jobs.append(Queue.prepare_data(fn, kwargs={"tenant": slug, "ids": batch}))
    if jobs:
        queue().enqueue_many(jobs)
    return total


# --- claiming -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    doubt: datetime | None  # an earlier call's outcome is unknown since then
    expired: bool = False  # taken over from a claim whose lease ran out (a dead worker)


_CLAIM = sa.text(
    """
    WITH c AS (
        SELECT id, in_doubt_since AS doubt, status AS was FROM notifications
         WHERE id = ANY(:ids)
           AND (   (status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= :now))
                OR (status = 'scheduled' AND scheduled_for <= :now)
                OR (status = 'sending' AND claimed_until <= :now))
         ORDER BY id
         FOR UPDATE SKIP LOCKED
    )
    UPDATE notifications n
       SET status = 'sending', claimed_until = :lease_end, attempts = n.attempts + 1,
           in_doubt_since = coalesce(n.in_doubt_since, :now), updated_at = :now
      FROM c
     WHERE n.id = c.id
    RETURNING n.id, c.doubt, c.was
    """
)


@transactional
def claim(*, tenant: tenancy.TenantRef, ids: Sequence[uuid.UUID], now: datetime) -> list[Claimed]:
    lease_end = now + timedelta(seconds=outbox.settings().notify_lease_seconds)
    rows = session().execute(_CLAIM, {"ids": list(ids), "now": now, "lease_end": lease_end}).all()
    claimed = [Claimed(r.id, r.doubt, r.was == "sending") for r in rows]
    # If this worker dies, the entry comes due when the lease ends: reconcile, then resend.
    outbox.set_due(tenant, [(c.id, "send", lease_end) for c in claimed])
    return claimed


# --- preparing messages -------------------------------------------------------------------------


@dataclass
class Plan:
    """One claimed row: what to send and how, or why it is not sent."""

    id: uuid.UUID
    doubt: datetime | None
    expired: bool = False
    channel_name: str | None = None
    message: Message | None = None
    channel: Channel | None = None
    provider: str | None = None
    skip: tuple[str, str, str] | None = None  # (status, error, detail): settled without a call
    reroute: bool = False  # write the message again on another channel


def _load(ids: Sequence[uuid.UUID]) -> list[Any]:
    from bookme.bookings.models import Booking
    from bookme.customers.models import Customer
    from bookme.services.models import Service
    from bookme.staff.models import Staff

    return list(
        session().execute(
            sa.select(Notification, Booking, Customer, Service, Staff)
            .join(Booking, Booking.id == Notification.booking_id)
            .join(Customer, Customer.id == Notification.customer_id)
            .join(Service, Service.id == Booking.service_id)
            .join(Staff, Staff.id == Booking.staff_id)
            .where(Notification.id.in_(list(ids)))
        )
    )


def _windows(customer_ids: set[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    if not customer_ids:
        return {}
    rows = (
        session()
        .execute(
            sa.select(NotificationReply.customer_id, sa.func.max(NotificationReply.received_at))
            .where(
                NotificationReply.customer_id.in_(list(customer_ids)),
                NotificationReply.channel == "whatsapp",
            )
            .group_by(NotificationReply.customer_id)
        )
        .all()
    )
    return {cid: last + outbox.WHATSAPP_WINDOW for cid, last in rows}


def business_name(tenant: tenancy.TenantRef) -> str:
    from bookme.tenants.models import Tenant

    return session().scalar(sa.select(Tenant.name).where(Tenant.id == tenant.id)) or tenant.slug


def booking_context(
    *,
    tenant: tenancy.TenantRef,
    booking: Any,
    customer: Any,
    service: Any,
    staff: Any,
    business: str,
    locale: str,
) -> dict[str, Any]:
    from bookme.bookings.service import manage_url

    return templates.context(
        customer_name=customer.full_name,
        business_name=business,
        service_name=service.name,
        staff_name=staff.display_name,
        starts_at=booking.starts_at,
        duration_minutes=int((booking.ends_at - booking.starts_at).total_seconds() // 60),
        price=booking.price,
        currency=booking.currency,
        manage_url=manage_url(booking),
        timezone=tenant.timezone,
        locale=locale,
    )


def status_callback_url(tenant: tenancy.TenantRef, notification_id: uuid.UUID) -> str:
    base = outbox.settings().public_base_url
    return f"{base}/webhooks/twilio/status?tenant={tenant.slug}&notification={notification_id}"


def prepare(tenant: tenancy.TenantRef, claimed: Sequence[Claimed], now: datetime) -> list[Plan]:
    cfg = outbox.settings()
    prefs = outbox.preferences()
    own = outbox.overrides()
    business = business_name(tenant)
    doubts = {c.id: c.doubt for c in claimed}
    expired = {c.id for c in claimed if c.expired}
    rows = _load(list(doubts))
    windows = _windows({customer.id for _, _, customer, _, _ in rows})
    plans = []
    for row, booking, customer, service, staff in rows:
        plan = Plan(
            id=row.id, doubt=doubts[row.id], expired=row.id in expired, channel_name=row.channel
        )
        plans.append(plan)
        if plan.doubt is None:
            settled = _unsendable(row, booking, customer, prefs)
            if settled is not None:
                plan.skip, plan.reroute = settled
                continue
        to = outbox.address_of(customer, row.channel) or row.to
        content_sid, variables = None, {}
        template = own.get((row.event, row.channel, row.locale))
        source = (
            templates.Template(
                row.event,
                row.channel,
                row.locale,
                template.subject,
                template.body,
                template.content_sid,
                tuple(template.content_variables),
                False,
            )
            if template is not None
            else templates.default_template(row.event, row.channel, row.locale)
        )
        try:
            ctx = booking_context(
                tenant=tenant,
                booking=booking,
                customer=customer,
                service=service,
                staff=staff,
                business=business,
                locale=row.locale,
            )
            text = templates.render(source.body, ctx)
            subject = (
                templates.one_line(templates.render(source.subject, ctx))
                if source.subject
                else None
            )
        except (templates.TemplateProblem, ValueError) as exc:
            plan.skip = ("failed", "template_error", str(exc))
            continue
        if row.channel == "whatsapp":
            window = windows.get(customer.id)
            if window is None or window <= now:
                if not source.content_sid:
                    if plan.doubt is None:
                        plan.skip = (
                            "skipped",
                            "whatsapp_window_closed",
                            "Outside the 24-hour window and the template has no content_sid.",
                        )
                        plan.reroute = True
                        continue
                else:
                    content_sid = source.content_sid
                    variables = {
                        str(i): str(ctx[name]) for i, name in enumerate(source.content_variables, 1)
                    }
        sender = prefs.sender(row.channel)
        channel = channel_registry.channel_for(row.channel, cfg, sender)
        if channel is None:
            plan.skip = ("skipped", "channel_not_configured", f"{row.channel} is not configured.")
            continue
        plan.channel = channel
        plan.provider = channel.provider
        plan.message = Message(
            notification_id=row.id,
            channel=row.channel,
            to=to,
            sender=sender,
            text=text,
            subject=subject,
            html=templates.html_body(text, locale=row.locale, subject=subject or "")
            if row.channel == "email"
            else None,
            content_sid=content_sid,
            content_variables=variables,
            status_callback=status_callback_url(tenant, row.id)
            if row.channel in ("sms", "whatsapp")
            else None,
            sender_name=prefs.email_from_name if row.channel == "email" else None,
            locale=row.locale,
        )
    missing = set(doubts) - {p.id for p in plans}
    plans.extend(Plan(id=i, doubt=doubts[i], skip=("cancelled", "gone", "")) for i in missing)
    return plans


def _unsendable(
    row: Notification, booking: Any, customer: Any, prefs: outbox.Preferences
) -> tuple[tuple[str, str, str], bool] | None:
    """Why a row that never reached a provider should not go out now (and if it should be
    written again on another channel)."""
    if row.event == "booking_reminder" and booking.status != "confirmed":
        return (
            "cancelled",
            "booking_" + booking.status,
            f"The booking is {booking.status}.",
        ), False
    if row.event == "booking_reminder" and booking.starts_at != row.appointment_at:
        return ("cancelled", "booking_moved", "The booking was moved."), False
    if not outbox.address_of(customer, row.channel):
        return ("skipped", "no_address", f"The customer has no {row.channel} address."), True
    if outbox.consent_withdrawn(customer, row.channel):
        return (
            "skipped",
            "consent_withdrawn",
            f"The customer withdrew {row.channel} consent.",
        ), True
    return None


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    plan: Plan
    kind: str  # sent, failed, retry, released
    sent: Sent | None = None
    failure: SendFailed | None = None
    reconciled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def attempt(plan: Plan, deadline: float) -> Outcome:
    """One row's provider work (a worker thread: no database here)."""
    assert plan.channel is not None and plan.message is not None
    try:
        if plan.doubt is not None:
            found = plan.channel.find_sent(plan.message, plan.doubt)
            if found is not None:
                return Outcome(plan, "sent", sent=found, reconciled=True)
        if time.monotonic() > deadline:
            return Outcome(plan, "released")
        return Outcome(plan, "sent", sent=plan.channel.send(plan.message))
    except PermanentFailure as exc:
        return Outcome(plan, "failed", failure=exc)
    except TemporaryFailure as exc:
        return Outcome(plan, "retry", failure=exc)
    except Exception as exc:  # a bug or an unexpected library error: retry, and look first
        log.exception("notification %s: unexpected error while sending", plan.id)
        failure = TemporaryFailure(
            "provider_error", f"{type(exc).__name__}: {exc}", maybe_sent=True
        )
        return Outcome(plan, "retry", failure=failure)


def send_batch(*, tenant: tenancy.TenantRef, ids: Sequence[uuid.UUID], now: datetime) -> int:
    """Claim these rows, send them on a bounded thread pool, record each outcome. → sent count."""
    cfg = outbox.settings()
    claimed = claim(tenant=tenant, ids=ids, now=now)
    if not claimed:
        return 0
    # No provider call may start after this: one that did could outlive the lease.
    deadline = time.monotonic() + cfg.notify_lease_seconds - 2 * cfg.notify_send_timeout_seconds
    plans = prepare(tenant, claimed, now)
    settled = [Outcome(p, "settled") for p in plans if p.skip is not None]
    if settled:
        record(tenant=tenant, outcomes=settled, now=now)
    sendable = [p for p in plans if p.skip is None]
    sent = 0
    if not sendable:
        return 0
    workers = max(1, min(cfg.notify_concurrency, len(sendable)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify") as pool:
        pending: set[Future[Outcome]] = {pool.submit(attempt, p, deadline) for p in sendable}
        waiting: list[Outcome] = []
        since = 0.0
        while pending:
            timeout = max(0.0, since + RECORD_EVERY - time.monotonic()) if waiting else None
            done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            if done and not waiting:
                since = time.monotonic()
            waiting.extend(f.result() for f in done)
            # Outcomes are written as they come back, a few at a time: whatever a crash
            # leaves unwritten is in doubt and looked up before any resend.
            if waiting and (
                not pending
                or len(waiting) >= RECORD_BATCH
                or time.monotonic() - since >= RECORD_EVERY
            ):
                sent += sum(1 for o in waiting if o.kind == "sent")
                record(tenant=tenant, outcomes=waiting, now=_now())
                waiting = []
    return sent


def _now() -> datetime:
    from bookme.core.clock import now

    return now()


# --- recording ----------------------------------------------------------------------------------


@transactional
def record(*, tenant: tenancy.TenantRef, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write what happened to each row, in one transaction for the outcomes at hand."""
    sent = [o for o in outcomes if o.kind == "sent"]
    if sent:
        _record_sent(tenant, sent, now)
    for outcome in outcomes:
        plan = outcome.plan
        if outcome.kind == "settled":
            _settle(tenant, plan, now)
        elif outcome.kind == "failed":
            assert outcome.failure is not None
            _record_failed(
                tenant,
                plan.id,
                outcome.failure.code,
                outcome.failure.detail,
                now,
                provider=plan.provider,
                uncounted=_uncounted(plan, called=outcome.failure.called),
            )
        elif outcome.kind == "retry":
            assert isinstance(outcome.failure, TemporaryFailure)
            _record_retry(tenant, plan, outcome.failure, now)
        elif outcome.kind == "released":
            _release(tenant, plan, now)


def _update(notification_id: uuid.UUID, *conditions: Any, **values: Any) -> Notification | None:
    stmt = (
        sa.update(Notification)
        .where(Notification.id == notification_id, *conditions)
        .values(updated_at=values.pop("updated_at"), **values)
        .returning(Notification)
        .execution_options(synchronize_session=False)
    )
    return session().scalars(stmt).one_or_none()


def _settle(tenant: tenancy.TenantRef, plan: Plan, now: datetime) -> None:
    assert plan.skip is not None
    status, error, detail = plan.skip
    row = _update(
        plan.id,
        Notification.status == "sending",
        status=status,
        error=error,
        error_detail=detail or None,
        claimed_until=None,
        in_doubt_since=None,
        attempts=Notification.attempts - 1,
        failed_at=now if status == "failed" else None,
        updated_at=now,
    )
    outbox.clear_due(tenant, [plan.id])
    if row is not None and plan.reroute:
        write_fallback(tenant=tenant, row=row, now=now)


# One statement per batch of sent rows: each provider id lands with its `sent` status, the
# due entry becomes a status poll (Twilio) or goes, and replies will find this tenant.
_RECORD_SENT = sa.text(
    """
    WITH v AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                   AS v(id uuid, address text, provider text, sid text, uncounted int)
    ), upd AS (
        UPDATE notifications n
           SET status = CASE WHEN n.status = 'sending' THEN 'sent' ELSE n.status END,
               "to" = v.address, provider = v.provider, provider_message_id = v.sid,
               sent_at = coalesce(n.sent_at, :now), claimed_until = NULL, in_doubt_since = NULL,
               next_attempt_at = NULL,
               error = CASE WHEN n.status = 'failed' THEN n.error END,
               error_detail = CASE WHEN n.status = 'failed' THEN n.error_detail END,
               attempts = n.attempts - v.uncounted, updated_at = :now
          FROM v
         WHERE n.id = v.id
        RETURNING n.id, n.status, n.channel, n."to", n.provider
    ), polled AS (
        INSERT INTO public.notification_due AS d (tenant_id, notification_id, kind, due_at)
        SELECT :tenant_id, id, 'poll', :poll_at FROM upd
         WHERE status = 'sent' AND provider = 'twilio'
        ON CONFLICT (tenant_id, notification_id)
        DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at
    ), cleared AS (
        DELETE FROM public.notification_due d USING upd
         WHERE d.tenant_id = :tenant_id AND d.notification_id = upd.id
           AND NOT (upd.status = 'sent' AND upd.provider = 'twilio')
    ), remembered AS (
        INSERT INTO public.notification_recipients AS r
               (channel, address, tenant_id, notification_id, sent_at)
        SELECT DISTINCT ON (channel, "to") channel, "to", :tenant_id, id, :now FROM upd
         WHERE channel IN ('sms', 'whatsapp') AND "to" IS NOT NULL
         ORDER BY channel, "to", id
        ON CONFLICT (channel, address) DO UPDATE
           SET tenant_id = excluded.tenant_id, notification_id = excluded.notification_id,
               sent_at = excluded.sent_at
         WHERE r.sent_at <= excluded.sent_at
    )
    SELECT count(*) FROM upd
    """
)


def _record_sent(tenant: tenancy.TenantRef, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Each provider id in the same statement that marks its row sent (a batch at a time)."""
    payload = []
    for outcome in outcomes:
        plan, sent = outcome.plan, outcome.sent
        assert plan.message is not None and sent is not None
        payload.append({
            "id": str(plan.id), "address": plan.message.to, "provider": plan.provider,
            "sid": sent.provider_message_id,
            "uncounted": _uncounted(plan, called=not outcome.reconciled),
        })  # fmt: skip
    poll_at = now + timedelta(minutes=outbox.settings().notify_status_poll_minutes)
    session().execute(
        _RECORD_SENT,
        {"rows": json.dumps(payload), "now": now, "poll_at": poll_at, "tenant_id": tenant.id},
    )


def _uncounted(plan: Plan, *, called: bool = True) -> int:
    """`attempts` counts provider calls, and each claim added one. Take one back when this
    claim made no send call (the lookup found the message, or the message could not be
    built), or when it took over from a dead worker's claim (that one is counted, and only
    one of the two calls can have happened)."""
    return 1 if not called or plan.expired else 0


def _record_failed(
    tenant: tenancy.TenantRef,
    notification_id: uuid.UUID,
    code: str,
    detail: str,
    now: datetime,
    *,
    provider: str | None,
    uncounted: int = 0,
) -> None:
    row = _update(
        notification_id,
        Notification.status == "sending",
        status="failed",
        error=code[:64],
        error_detail=detail[:500] or None,
        failed_at=now,
        provider=provider,
        claimed_until=None,
        in_doubt_since=None,
        next_attempt_at=None,
        attempts=Notification.attempts - uncounted,
        updated_at=now,
    )
    outbox.clear_due(tenant, [notification_id])
    if row is not None:
        after_failure(tenant=tenant, row=row, code=code, now=now)


def after_failure(
    *, tenant: tenancy.TenantRef, row: Notification, code: str, now: datetime
) -> None:
    """A permanent failure: 21610 withdraws the channel's consent; WhatsApp falls back."""
    if code == OPT_OUT_CODE and row.channel in ("sms", "whatsapp"):
        from bookme.customers.service import record_consent
        from bookme.users.access import SYSTEM

        record_consent(
            tenant=tenant,
            actor=SYSTEM,
            now=now,
            customer_id=row.customer_id,
            channel=row.channel,
            granted=False,
            source="reply",
            evidence=f"Twilio error {OPT_OUT_CODE}: the recipient opted out",
        )
    if row.channel == "whatsapp":
        write_fallback(tenant=tenant, row=row, now=now)


def write_fallback(*, tenant: tenancy.TenantRef, row: Notification, now: datetime) -> None:
    """The same message on the next channel, carrying `fallback_of`."""
    from bookme.bookings.models import Booking

    booking = session().get(Booking, row.booking_id)
    if booking is None:
        return
    if row.event == "booking_reminder" and (
        booking.status != "confirmed" or booking.starts_at != row.appointment_at
    ):
        return
    tried = [row.channel] if row.channel else []
    origin = row
    while origin.fallback_of is not None:  # never come back to a channel already tried
        previous = session().get(Notification, origin.fallback_of)
        if previous is None:
            break
        if previous.channel:
            tried.append(previous.channel)
        origin = previous
    written = outbox.write(
        reference_id=row.reference_id,
        tenant=tenant,
        booking=booking,
        customer=outbox._customer(row.customer_id),
        event=row.event,
        now=now,
        prefs=outbox.preferences(),
        own_templates=outbox.overrides(),
        reminder_offset=row.reminder_offset_minutes,
        fallback_of=row.id,
        exclude=tried,
    )
    if written is not None and written.status == "queued":
        outbox.enqueue_after_commit(tenant, [written.id])


def _record_retry(
    tenant: tenancy.TenantRef, plan: Plan, failure: TemporaryFailure, now: datetime
) -> None:
    row = session().get(Notification, plan.id, populate_existing=True, with_for_update=True)
    if row is None or row.status != "sending":
        return
    row.attempts -= _uncounted(plan)
    if row.attempts >= MAX_ATTEMPTS:
        session().flush()
        _record_failed(tenant, plan.id, failure.code, failure.detail, now, provider=plan.provider)
        return
    retry_at = now + backoff(row.attempts)
    row.status = "queued"
    row.next_attempt_at = retry_at
    row.error = failure.code[:64]
    row.error_detail = failure.detail[:500] or None
    row.provider = plan.provider
    row.claimed_until = None
    row.in_doubt_since = row.in_doubt_since if failure.maybe_sent else None
    row.updated_at = now
    session().flush()
    outbox.set_due(tenant, [(row.id, "send", retry_at)])


def _release(tenant: tenancy.TenantRef, plan: Plan, now: datetime) -> None:
    """Claimed but never tried (the lease was running out): back in the queue as it was."""
    row = _update(
        plan.id,
        Notification.status == "sending",
        status="queued",
        attempts=Notification.attempts - 1,
        claimed_until=None,
        in_doubt_since=plan.doubt,
        updated_at=now,
    )
    if row is not None:
        outbox.set_due(tenant, [(row.id, "send", now)])


# --- delivery status ----------------------------------------------------------------------------


def apply_status(
    *,
    tenant: tenancy.TenantRef,
    row: Notification,
    status: str,
    error: str | None,
    detail: str | None,
    now: datetime,
    provider_message_id: str | None = None,
) -> bool:
    """Move a row forward to a provider-reported status (never back). → changed?"""
    current = row.status
    if status == "failed":
        if current not in ("queued", "sending", "sent"):
            return False
        row.status = "failed"
        row.error = (error or "undelivered")[:64]
        row.error_detail = (detail or "The provider reported the message as not delivered.")[:500]
        row.failed_at = now
    elif status in ("sent", "delivered", "read"):
        if current not in RANK or RANK[status] <= RANK[current]:
            return False
        row.status = status
        if status in ("delivered", "read") and row.delivered_at is None:
            row.delivered_at = now
        if status == "read":
            row.read_at = now
        if row.sent_at is None:
            row.sent_at = now
    else:
        return False
    if provider_message_id and not row.provider_message_id:
        row.provider_message_id = provider_message_id
    row.updated_at = now
    session().flush()
    if status in ("failed", "delivered", "read"):
        outbox.clear_due(tenant, [row.id])
    if status == "failed":
        after_failure(tenant=tenant, row=row, code=row.error or "", now=now)
    return True


def poll_batch(*, tenant: tenancy.TenantRef, ids: Sequence[uuid.UUID], now: datetime) -> int:
    """Ask the provider about messages left in `sent` without a status callback."""
    cfg = outbox.settings()
    prefs = outbox.preferences()
    found = (
        session()
        .execute(
            sa.select(
                Notification.id, Notification.channel, Notification.provider_message_id
            ).where(
                Notification.id.in_(list(ids)),
                Notification.status == "sent",
                Notification.provider == "twilio",
                Notification.provider_message_id.is_not(None),
            )
        )
        .all()
    )
    work = [
        (nid, channel_registry.channel_for(str(channel), cfg, prefs.sender(str(channel))), str(sid))
        for nid, channel, sid in found
    ]
    session().rollback()
    finished = set(ids) - {nid for nid, _, _ in work}
    if finished:
        _clear_due_tx(tenant, list(finished))
    if not work:
        return 0

    def fetch(
        item: tuple[uuid.UUID, Channel | None, str],
    ) -> tuple[uuid.UUID, ProviderStatus | None]:
        nid, channel, sid = item
        return nid, channel.fetch_status(sid) if channel is not None else None

    workers = max(1, min(cfg.notify_concurrency, len(work)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify-poll") as pool:
        results = dict(pool.map(fetch, work))
    return _apply_polled(tenant=tenant, results=results, now=now)


@transactional
def _clear_due_tx(tenant: tenancy.TenantRef, ids: list[uuid.UUID]) -> None:
    outbox.clear_due(tenant, ids)


@transactional
def _apply_polled(
    *, tenant: tenancy.TenantRef, results: dict[uuid.UUID, ProviderStatus | None], now: datetime
) -> int:
    changed = 0
    for nid, result in results.items():
        row = session().get(Notification, nid, with_for_update=True, populate_existing=True)
        if row is None:
            continue
        if result is not None and apply_status(
            tenant=tenant,
            row=row,
            status=result.status,
            error=result.error,
            detail=result.detail,
            now=now,
        ):
            changed += 1
            continue
        if row.status != "sent":
            outbox.clear_due(tenant, [nid])
            continue
        age = now - (row.sent_at or now)
        if age >= POLL_GIVE_UP:
            outbox.clear_due(tenant, [nid])  # the provider never said; leave it `sent`
        else:
            wait_for = max(timedelta(minutes=outbox.settings().notify_status_poll_minutes), age)
            outbox.set_due(tenant, [(nid, "poll", now + wait_for)])
    return changed
