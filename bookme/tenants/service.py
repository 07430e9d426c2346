"""Tenant use cases: provisioning, lookup and resolution, lifecycle."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from typing import Any

import sqlalchemy as sa

from bookme.core import errors, tenancy
from bookme.core.db import session, transactional
from bookme.tenants import schema as tenant_schema
from bookme.tenants.models import Tenant, TenantDomain, TenantEvent

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
RESERVED_SLUGS = frozenset(
    {
        "public", "information_schema", "admin", "api", "www", "app", "static", "assets",
        "docs", "m", "mail", "root", "postgres", "template0", "template1", "bookme",
        "webhooks", "healthz", "readyz", "default", "system", "tenant", "tenants", "null",
    }
)  # fmt: skip

errors.on_constraint("uq_tenants_slug", lambda: errors.SlugTaken("This slug is already taken."))
errors.on_constraint(
    "uq_tenant_domains_domain", lambda: errors.Conflict("This domain is already registered.")
)


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot name a tenant, or None when it can."""
    if not SLUG_RE.match(slug):
        return "3-63 characters of a-z, 0-9 and '-', starting with a letter."
    if slug in RESERVED_SLUGS or slug.startswith(("pg-", "pg_")) or slug.endswith("-"):
        return "This slug is reserved."
    return None


def to_ref(tenant: Tenant) -> tenancy.TenantRef:
    return tenancy.TenantRef(
        id=tenant.id,
        slug=tenant.slug,
        schema=tenant.schema_name,
        timezone=tenant.timezone,
        currency=tenant.currency,
        locale=tenant.locale,
        status=tenant.status,
    )


@transactional
def create_tenant(
    *,
    slug: str,
    name: str,
    timezone: str = "Africa/Casablanca",
    currency: str = "MAD",
    locale: str = "fr",
    owner_id: uuid.UUID | None = None,
    actor: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Tenant:
    """Create the tenant, its schema and tables, and its owner membership: all or nothing."""
    problem = slug_problem(slug)
    if problem:
        raise errors.validation_error({"slug": [problem]})
    if timezone not in zoneinfo.available_timezones():
        raise errors.validation_error({"timezone": ["Unknown IANA time zone."]})
    sess = session()
    if sess.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise errors.SlugTaken(f"The slug {slug!r} is already taken.")
    tenant_id = uuid.uuid4()
    tenant = Tenant(
        id=tenant_id,
        slug=slug,
        name=name,
        timezone=timezone,
        currency=currency,
        locale=locale,
        status="active",
        schema_name=tenancy.schema_for(tenant_id),
        schema_revision=tenant_schema.tenant_head(),
        settings=settings or {},
    )
    sess.add(tenant)
    sess.add(TenantEvent(tenant_id=tenant_id, type="created", actor=actor, data={"slug": slug}))
    if owner_id is not None:
        from bookme.users.models import Membership

        sess.add(Membership(tenant_id=tenant_id, user_id=owner_id, role="owner"))
    sess.flush()
    tenant_schema.create_schema(sess.connection(), tenant.schema_name)
    sess.execute(sa.text(f"SET LOCAL search_path TO {tenancy.search_path()}"))
    return tenant


def get_by_slug(slug: str) -> Tenant | None:
    return session().scalar(sa.select(Tenant).where(Tenant.slug == slug))


def tenant_ref_by_slug(slug: str) -> tenancy.TenantRef:
    tenant = get_by_slug(slug)
    if tenant is None:
        raise errors.TenantNotFound(f"No tenant {slug!r}.")
    return to_ref(tenant)


_RESOLVE = sa.text(
    """
    (SELECT t.id, t.slug, t.schema_name, t.timezone, t.currency, t.locale, t.status
       FROM public.tenant_domains d JOIN public.tenants t ON t.id = d.tenant_id
      WHERE d.domain = :host)
    UNION ALL
    (SELECT t.id, t.slug, t.schema_name, t.timezone, t.currency, t.locale, t.status
       FROM public.tenants t WHERE t.slug = :slug)
    LIMIT 1
    """
)


def resolve(host: str | None, header_slug: str | None, base_domain: str) -> tenancy.TenantRef:
    """The tenant a request addresses: a registered domain, `<slug>.<base>`, else `X-Tenant`."""
    host = (host or "").split(":", 1)[0].strip().lower().rstrip(".")
    slug = None
    suffix = "." + base_domain.lower()
    if host.endswith(suffix):
        slug = host[: -len(suffix)] or None
    if slug is None or "." in slug:
        slug = (header_slug or "").strip().lower() or None
    row = session().execute(_RESOLVE, {"slug": slug or "", "host": host}).first()
    if row is None:
        if slug is None:
            raise errors.TenantRequired("Send X-Tenant: <slug> or use the tenant's domain.")
        raise errors.TenantNotFound(f"No tenant {slug!r}.")
    if row.status != "active":
        raise errors.TenantSuspended("This business is suspended.")
    return tenancy.TenantRef(
        id=row.id,
        slug=row.slug,
        schema=row.schema_name,
        timezone=row.timezone,
        currency=row.currency,
        locale=row.locale,
        status=row.status,
    )


def origin_allowed(origin: str) -> bool:
    """CORS: a tenant's own registered domains may call the API from the browser."""
    host = origin.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    if not host:
        return False
    found = session().scalar(sa.select(TenantDomain.id).where(TenantDomain.domain == host))
    return found is not None


@transactional
def set_status(*, slug: str, status: str, actor: str | None = None) -> Tenant:
    if status not in ("active", "suspended"):
        raise errors.validation_error({"status": ["Must be active or suspended."]})
    tenant = get_by_slug(slug)
    if tenant is None:
        raise errors.TenantNotFound(f"No tenant {slug!r}.")
    if tenant.status != status:
        session().add(
            TenantEvent(
                tenant_id=tenant.id,
                type="activated" if status == "active" else "suspended",
                actor=actor,
                data={"from": tenant.status},
            )
        )
        tenant.status = status
    return tenant
