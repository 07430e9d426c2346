"""Periodic upkeep for bookings: forgetting Idempotency-Keys past their 24 hours."""

from __future__ import annotations

import logging

from bookme.core import clock, periodic
from bookme.core.db import transactional
from bookme.core.tasks import job

log = logging.getLogger("bookme.bookings.tasks")


@job
def purge_idempotency_keys() -> int:
    """Hourly: delete expired keys in every tenant (expired ones are already ignored)."""
    from bookme.bookings import idempotency
    from bookme.tenants.service import for_each_tenant

    now = clock.now()
    purge = transactional(lambda ref: idempotency.purge_expired(now=now))
    return for_each_tenant(purge, log=log)


periodic.register("bookings.purge_idempotency_keys", 3600, purge_idempotency_keys)
