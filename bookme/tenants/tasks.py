"""Tenant background work: keep spare schemas ready for signups."""

from __future__ import annotations

import logging

from bookme.core import periodic
from bookme.core.tasks import job
from bookme.tenants import schema

log = logging.getLogger("bookme.tenants.tasks")


@job
def top_up_spare_schemas() -> None:
    """Build spare tenant schemas at head until enough are ready (idempotent)."""
    schema.top_up_spares(schema.engine_of_session(), echo=log.info)


periodic.register("tenants.top_up_spare_schemas", 60, top_up_spare_schemas)
