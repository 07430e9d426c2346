"""Background work for payments: webhook events, refunds, remote cancellations, holds, and the
daily reconciliation. Periodic jobs loop over tenants; each tenant's work is its own
transaction(s), and every step is idempotent (a tick may run twice after a hand-over).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bookme.core import clock, periodic, tenancy
from bookme.core.db import session
from bookme.core.tasks import enqueue, job

log = logging.getLogger("bookme.payments.tasks")

EVENT_RETRY_AFTER = timedelta(seconds=60)
MAX_EVENT_ATTEMPTS = 20
REFUND_RETRY_AFTER = timedelta(minutes=2)


@job
def process_webhook_event(*, tenant: str, event: str) -> str:
    from bookme.payments import service

    event_id = uuid.UUID(event)
    try:
        return service.process_event(
            tenant=tenancy.require(), now=clock.now(), event_row_id=event_id
        )
    except Exception as exc:
        session().rollback()
        service.note_event_failure(event_row_id=event_id, error=f"{type(exc).__name__}: {exc}")
        raise


@job
def execute_refund(*, tenant: str, refund_id: str) -> str:
    from bookme.payments import service

    return service.execute_refund(
        tenant=tenancy.require(), now=clock.now(), refund_id=uuid.UUID(refund_id)
    )


@job
def cancel_remote(
    *, tenant: str, provider: str, reference: str, payment_id: str | None = None
) -> str:
    from bookme.payments import service

    return service.cancel_remote(
        tenant=tenancy.require(),
        now=clock.now(),
        provider_name=provider,
        reference=reference,
        payment_id=uuid.UUID(payment_id) if payment_id else None,
    )


def _each_tenant(work: Callable[[tenancy.TenantRef], Any]) -> int:
    """Every tenant, suspended ones too: money already in flight must still settle."""
    from bookme.tenants.service import for_each_tenant

    return for_each_tenant(work, log=log, status=None)


@job
def expire_holds() -> int:
    """Periodic: cancel expired holds (reason payment_expired) and expired payment links."""
    from bookme.payments import service

    now = clock.now()
    return _each_tenant(lambda ref: service.expire_open_payments(tenant=ref, now=now))


@job
def sweep() -> int:
    """Periodic: re-enqueue webhook events and refunds whose job was lost (Redis, a dead worker)."""
    from bookme.payments import service
    from bookme.payments.models import Refund

    now = clock.now()

    def work(ref: tenancy.TenantRef) -> None:
        import sqlalchemy as sa

        events = service.unprocessed_events(
            now=now, older_than=EVENT_RETRY_AFTER, max_attempts=MAX_EVENT_ATTEMPTS
        )
        refunds = list(
            session().scalars(
                sa.select(Refund.id)
                .where(Refund.status == "pending", Refund.updated_at <= now - REFUND_RETRY_AFTER)
                .limit(200)
            )
        )
        session().rollback()
        for event_id in events:
            enqueue(process_webhook_event, tenant=ref.slug, event=str(event_id))
        for refund_id in refunds:
            enqueue(execute_refund, tenant=ref.slug, refund_id=str(refund_id))

    return _each_tenant(work)


@job
def reconcile() -> int:
    """Daily: ask the providers about payments left open past their hold and pending refunds."""
    from bookme.payments import service

    now = clock.now()
    return _each_tenant(lambda ref: service.reconcile(tenant=ref, now=now))


periodic.register("payments.expire_holds", 60, expire_holds)
periodic.register("payments.sweep", 60, sweep)
periodic.register("payments.reconcile", None, reconcile, cron="30 3 * * *")
