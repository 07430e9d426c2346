"""Background work for notifications: the dispatcher tick, send and status-poll batches."""

from __future__ import annotations

import uuid

from bookme.communications import delivery
from bookme.config import Settings
from bookme.core import clock, periodic, tenancy
from bookme.core.tasks import job


@job
def send_notifications(*, tenant: str, ids: list[str]) -> int:
    """Claim, send and record up to a batch of one tenant's due notifications."""
    return delivery.send_batch(
        tenant=tenancy.require(), ids=[uuid.UUID(i) for i in ids], now=clock.now()
    )


@job
def poll_notifications(*, tenant: str, ids: list[str]) -> int:
    """Fetch the delivery status of messages left in `sent` without a callback."""
    return delivery.poll_batch(
        tenant=tenancy.require(), ids=[uuid.UUID(i) for i in ids], now=clock.now()
    )


@job
def dispatch_notifications() -> int:
    """Periodic: enqueue every due notification (reminders, retries, lost jobs, polls)."""
    return delivery.dispatch(now=clock.now())


periodic.register(
    "notifications.dispatch", Settings.from_env().notify_dispatch_seconds, dispatch_notifications
)
