"""The tenant of the current unit of work, and the search_path it implies."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

SCHEMA_RE = re.compile(r"^tenant_[0-9a-f]{32}$")


@dataclass(frozen=True)
class TenantRef:
    """What a unit of work needs to know about its tenant."""

    id: uuid.UUID
    slug: str
    schema: str
    timezone: str
    currency: str
    locale: str
    status: str

    def __post_init__(self) -> None:
        if not SCHEMA_RE.fullmatch(self.schema):
            raise ValueError(f"invalid tenant schema name {self.schema!r}")


def schema_for(tenant_id: uuid.UUID) -> str:
    return f"tenant_{tenant_id.hex}"


_current: ContextVar[TenantRef | None] = ContextVar("bookme_tenant", default=None)
# The id of the tenant a web request resolved for itself, kept in its WSGI environ: unlike
# `current()`, never one left over from an earlier request or the caller's context.
RESOLVED = "bookme.resolved_tenant_id"


def current() -> TenantRef | None:
    return _current.get()


def require() -> TenantRef:
    tenant = _current.get()
    if tenant is None:
        raise RuntimeError("no tenant is active for this unit of work")
    return tenant


def search_path() -> str:
    """`"tenant_…", public` for the active tenant, `public` alone otherwise."""
    return _path_for(_current.get())


def _path_for(tenant: TenantRef | None) -> str:
    if tenant is None:
        return "public"
    return f'"{tenant.schema}", public'


def activate(tenant: TenantRef | None) -> None:
    """Make `tenant` current; an already open transaction switches its search_path now.

    The session's identity map is keyed by class and primary key, not by schema, so when
    the tenant changes everything loaded for the previous one is flushed and forgotten:
    `Session.get` must never answer with another tenant's row.
    """
    previous = _current.get()
    _current.set(tenant)
    from bookme.core.db import session

    sess = session()
    if previous != tenant and (sess.identity_map or sess.new or sess.dirty or sess.deleted):
        sess.flush()  # still on the previous tenant's search_path
        sess.expunge_all()
    if sess.in_transaction():
        from bookme.core.db import use_search_path

        use_search_path(sess.connection(), search_path())


@contextlib.contextmanager
def using(tenant: TenantRef | None) -> Iterator[TenantRef | None]:
    """Run a block for `tenant` (jobs, CLI), restoring the previous tenant after."""
    previous = _current.get()
    activate(tenant)
    try:
        yield tenant
    finally:
        activate(previous)
