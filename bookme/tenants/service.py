"""Tenant use cases: provisioning, resolution, settings, domains and lifecycle."""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_smorest.pagination import PaginationParameters

from bookme.core import errors, tenancy
from bookme.core.api import paginate
from bookme.core.db import driver_rows, search_path_set, session, transactional, use_search_path
from bookme.tenants import schema as tenant_schema
from bookme.tenants.models import TENANT_STATUSES, Tenant, TenantDomain, TenantEvent

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
RESERVED_SLUGS = frozenset(
    {
        "public",
        "information_schema",
        "admin",
        "api",
        "www",
        "app",
        "static",
        "assets",
        "docs",
        "m",
        "mail",
        "root",
        "postgres",
        "template0",
        "template1",
        "bookme",
        "webhooks",
        "healthz",
        "readyz",
        "default",
        "system",
        "tenant",
        "tenants",
        "null",
    }
)
LOCALES = ("fr", "ar", "en")
MAX_DOMAINS = 20

# Tenant settings: what a tenant never set reads as its default. Other modules read them
# through `get_settings`.
SETTINGS_DEFAULTS: dict[str, Any] = {"cancellation_cutoff_hours": 24}
SETTINGS_RANGES: dict[str, tuple[int, int]] = {"cancellation_cutoff_hours": (0, 720)}

errors.on_constraint("uq_tenants_slug", lambda: errors.SlugTaken("This slug is already taken."))
errors.on_constraint(
    "uq_tenant_domains_domain",
    lambda: errors.DomainTaken("This domain is already registered."),
)

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _label(actor: Any) -> str | None:
    """Actors are recorded by label: an `Actor`, or a plain string from the CLI."""
    if actor is None or isinstance(actor, str):
        return actor
    return str(actor.label)


# --- validation ---------------------------------------------------------------------------


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot name a tenant, or None when it can."""
    if not SLUG_RE.fullmatch(slug):
        return "3-63 characters of a-z, 0-9 and '-', starting with a letter."
    # (A slug ending in '-' is one API.md allows; it is not a host name label, so such a
    # tenant is reached by X-Tenant or its own domains, not as `<slug>.<base domain>`.)
    if slug in RESERVED_SLUGS or slug.startswith(("pg-", "pg_")):
        return "This slug is reserved."
    return None


def _check_profile(fields: dict[str, Any]) -> None:
    """Fields the API schemas check too; checked here for the CLI and other callers."""
    problems: dict[str, list[str]] = {}
    if "name" in fields and not (1 <= len(fields["name"].strip()) <= 200):
        problems["name"] = ["1-200 characters, not only blanks."]
    if "timezone" in fields and fields["timezone"] not in zoneinfo.available_timezones():
        problems["timezone"] = ["Unknown IANA time zone."]
    if "currency" in fields and not re.fullmatch(r"[A-Z]{3}", fields["currency"] or ""):
        problems["currency"] = ["Expected an ISO 4217 code like MAD."]
    if "locale" in fields and fields["locale"] not in LOCALES:
        problems["locale"] = [f"Must be one of: {', '.join(LOCALES)}."]
    for key, value in (fields.get("settings") or {}).items():
        if key not in SETTINGS_RANGES:
            problems.setdefault("settings", []).append(f"Unknown setting {key!r}.")
            continue
        low, high = SETTINGS_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.setdefault("settings", []).append(f"{key}: an integer from {low} to {high}.")
    if problems:
        raise errors.validation_error(problems)


def normalize_domain(value: str, base_domain: str) -> str:
    """A hostname as stored: lowercased, IDNA-encoded, no trailing dot; else 422."""
    text = value.strip().rstrip(".")
    try:
        host = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = ""
    labels = host.split(".")
    bad = (
        not host
        or len(host) > 253
        or len(labels) < 2
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    )
    if not bad:
        try:
            ipaddress.ip_address(host)
            bad = True
        except ValueError:
            pass
    if bad:
        raise errors.validation_error({"domain": ["Not a valid hostname."]})
    base = base_domain.lower().rstrip(".")
    if host == base or host.endswith("." + base):
        raise errors.validation_error(
            {"domain": [f"Subdomains of {base} are the platform's; every tenant has one already."]}
        )
    return host


# --- provisioning ---------------------------------------------------------------------------


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
    actor: Any = None,
    settings: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Tenant:
    """Create the tenant, its schema and tables, and its owner membership: all or nothing."""
    problem = slug_problem(slug)
    if problem:
        raise errors.validation_error({"slug": [problem]})
    _check_profile(
        {
            "name": name,
            "timezone": timezone,
            "currency": currency,
            "locale": locale,
            "settings": settings or {},
        }
    )
    sess = session()
    if sess.scalar(sa.select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise errors.SlugTaken(f"The slug {slug!r} is already taken.")
    tenant_id = uuid.uuid4()
    tenant = Tenant(
        id=tenant_id,
        slug=slug,
        name=name.strip(),
        timezone=timezone,
        currency=currency,
        locale=locale,
        status="active",
        schema_name=tenancy.schema_for(tenant_id),
        schema_revision=tenant_schema.tenant_head(),
        settings=dict(settings or {}),
    )
    if now is not None:
        tenant.created_at = tenant.updated_at = now
    sess.add(tenant)
    sess.add(
        TenantEvent(
            tenant_id=tenant_id,
            type="created",
            actor=_label(actor),
            data={"slug": slug},
            **({"created_at": now} if now is not None else {}),
        )
    )
    if owner_id is not None:
        from bookme.users.models import Membership

        sess.add(Membership(tenant_id=tenant_id, user_id=owner_id, role="owner"))
    sess.flush()
    tenant_schema.create_schema(sess.connection(), tenant.schema_name)
    # Provisioning moved the search_path to the new schema (and said so: `create_schema`
    # forgets the remembered path); give the transaction back its own.
    use_search_path(sess.connection(), tenancy.search_path())
    return tenant


# --- lookup and resolution ------------------------------------------------------------------


def get_by_slug(slug: str) -> Tenant | None:
    """The tenant named `slug`, or None. A slug no tenant can have (a NUL, which PostgreSQL's
    text refuses, or anything off the slug pattern) is not looked up: it is simply not found."""
    if not SLUG_RE.fullmatch(slug):
        return None
    return session().scalar(sa.select(Tenant).where(Tenant.slug == slug))


def tenant_ref_by_slug(slug: str) -> tenancy.TenantRef:
    tenant = get_by_slug(slug)
    if tenant is None:
        raise errors.TenantNotFound(f"No tenant {slug!r}.")
    return to_ref(tenant)


_REF_COLUMNS = "t.id, t.slug, t.schema_name, t.timezone, t.currency, t.locale, t.status"
# A registered domain wins over a slug (from `<slug>.<base domain>` or X-Tenant): both arms
# are unique-index lookups, so this is one round trip and at most two rows to order.
_FOUND = f"""
    SELECT * FROM (
        SELECT 0 AS rank, {_REF_COLUMNS}
          FROM public.tenant_domains d JOIN public.tenants t ON t.id = d.tenant_id
         WHERE d.domain = :host
        UNION ALL
        SELECT 1 AS rank, {_REF_COLUMNS} FROM public.tenants t WHERE t.slug = :slug
        UNION ALL
        SELECT 2 AS rank, {_REF_COLUMNS} FROM public.tenants t WHERE t.slug = :header_slug
    ) AS found
    ORDER BY rank
    LIMIT 1
"""


# The found tenant's search_path, set for the rest of the transaction (SET LOCAL) by the
# statement that finds it: `tenancy.activate` then has nothing left to send.
_SET_PATH = "set_config('search_path', '\"' || found.schema_name || '\", public', true) AS path"


@functools.cache
def _resolve_statement(lateral: str | None) -> sa.TextClause:
    if lateral is None:
        return sa.text(f"SELECT found.*, {_SET_PATH} FROM ({_FOUND}) AS found")
    return sa.text(
        f"SELECT found.*, x.*, {_SET_PATH} FROM ({_FOUND}) AS found"
        f" LEFT JOIN LATERAL ({lateral}) AS x ON true"
    )


def _ref_from_row(row: Any) -> tenancy.TenantRef:
    return tenancy.TenantRef(
        id=row.id,
        slug=row.slug,
        schema=row.schema_name,
        timezone=row.timezone,
        currency=row.currency,
        locale=row.locale,
        status=row.status,
    )


def resolve(host: str | None, header_slug: str | None, base_domain: str) -> tenancy.TenantRef:
    """The tenant a request addresses: a registered domain, `<slug>.<base>`, else `X-Tenant`."""
    return resolve_with(host, header_slug, base_domain)[0]


def resolve_with(
    host: str | None,
    header_slug: str | None,
    base_domain: str,
    *,
    lateral: str | None = None,
    params: Mapping[str, Any] | None = None,
    refuse_suspended: bool = True,
) -> tuple[tenancy.TenantRef, Any]:
    """`resolve`, and in the same round trip the row of `lateral`: a subquery that may use
    `found.id` (the tenant's id) and `params`; its columns are NULL when it finds nothing.
    The row is a named tuple: `lateral`'s column names must differ from the tenant's. A
    caller passing `refuse_suspended=False` checks `row.status` itself (after membership, so
    that a non-member is not told the business is suspended).

    A registered domain comes first, then `<slug>.<base>`, then `X-Tenant`: a host that is no
    tenant's falls back to the header, as API.md's tenancy rule says."""
    host = (host or "").strip().lower()
    host = (host.rsplit(":", 1)[0] if not host.endswith("]") else host).rstrip(".")[:253]
    slug = None
    suffix = "." + base_domain.lower().rstrip(".")
    label = host[: -len(suffix)] if host.endswith(suffix) else ""
    # `api.<base>`, `www.<base>`…: the platform's own hosts (reserved slugs), not tenants.
    if label and "." not in label and label not in RESERVED_SLUGS:
        slug = label
    header = (header_slug or "").strip().lower()[:64] or None
    # A name no tenant can have (a NUL, which PostgreSQL's text refuses, or a slug off the
    # pattern) is not looked up; it still names a tenant that is not found, not none at all.
    rows = driver_rows(
        _resolve_statement(lateral),
        {
            **(params or {}),
            "slug": slug if slug and SLUG_RE.fullmatch(slug) else "",
            "header_slug": header if header and SLUG_RE.fullmatch(header) else "",
            "host": "" if "\x00" in host else host,
        },
    )
    if not rows:
        if slug is None and header is None:
            raise errors.TenantRequired("Send X-Tenant: <slug> or use the tenant's domain.")
        raise errors.TenantNotFound("No such tenant.")
    row = rows[0]
    search_path_set(session().connection(), row.path)
    if refuse_suspended:
        refuse_if_suspended(row.status)
    return _ref_from_row(row), row


def refuse_if_suspended(status: str) -> None:
    if status != "active":
        raise errors.TenantSuspended("This business is suspended.")


def origin_allowed(origin: str, tenant_id: uuid.UUID | None = None) -> bool:
    """CORS: a tenant's own registered domains may call the API from the browser: those of
    `tenant_id` (the tenant the request resolved), else any tenant's (a preflight, which
    carries no X-Tenant value, or `/me`, `/auth/...`)."""
    host = origin.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()
    if not host or len(host) > 253:
        return False
    stmt = sa.select(TenantDomain.id).where(TenantDomain.domain == host)
    if tenant_id is not None:
        stmt = stmt.where(TenantDomain.tenant_id == tenant_id)
    try:
        found = session().scalar(stmt)
    except sa.exc.SQLAlchemyError:
        # The request's transaction already failed; a CORS header is not worth a 500.
        return False
    return found is not None


def authorize_member(
    *, slug: str, user_id: uuid.UUID, roles: tuple[str, ...]
) -> tuple[tenancy.TenantRef, str]:
    """The tenant named in a path and the caller's role there: 404 unknown, 403 otherwise."""
    from bookme.users.models import Membership

    if not SLUG_RE.fullmatch(slug):
        raise errors.TenantNotFound("No such tenant.")
    row = (
        session()
        .execute(
            sa.select(Tenant, Membership.role)
            .outerjoin(
                Membership, (Membership.tenant_id == Tenant.id) & (Membership.user_id == user_id)
            )
            .where(Tenant.slug == slug)
        )
        .first()
    )
    if row is None:
        raise errors.TenantNotFound("No such tenant.")
    tenant, role = row
    if role is None:
        raise errors.Forbidden("You are not a member of this business.")
    if role not in roles:
        raise errors.Forbidden("Your role does not allow this.")
    return to_ref(tenant), role


# --- reading and changing a tenant --------------------------------------------------------------


def get_settings(tenant: tenancy.TenantRef | Tenant | uuid.UUID) -> dict[str, Any]:
    """The tenant's settings, every one present (defaults for those never set)."""
    if isinstance(tenant, Tenant):
        stored = tenant.settings
    else:
        tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.id
        stored = session().scalar(sa.select(Tenant.settings).where(Tenant.id == tenant_id))
        if stored is None:
            raise errors.TenantNotFound("No such tenant.")
    return effective_settings(stored)


def effective_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    stored = stored or {}
    return {key: stored.get(key, default) for key, default in SETTINGS_DEFAULTS.items()}


def list_tenants(*, actor: Any, pagination: PaginationParameters) -> list[Tenant]:
    """The tenants the actor is a member of, by name."""
    from bookme.users.models import Membership

    stmt = (
        sa.select(Tenant)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == actor.user_id)
        .order_by(Tenant.name, Tenant.slug)
    )
    return paginate(stmt, pagination)


def get_tenant(*, tenant: tenancy.TenantRef) -> Tenant:
    found = session().get(Tenant, tenant.id)
    if found is None:
        raise errors.TenantNotFound("No such tenant.")
    return found


def _locked(tenant: tenancy.TenantRef) -> Tenant:
    found = session().get(Tenant, tenant.id, with_for_update=True)
    if found is None:
        raise errors.TenantNotFound("No such tenant.")
    refuse_if_suspended(found.status)
    return found


@transactional
def update_tenant(
    *, tenant: tenancy.TenantRef, actor: Any, now: datetime, changes: dict[str, Any]
) -> Tenant:
    """Change the profile fields given and merge the settings given; recorded as an event."""
    _check_profile(changes)
    row = _locked(tenant)
    diff: dict[str, Any] = {}
    for field in ("name", "timezone", "currency", "locale"):
        if field in changes:
            value = changes[field].strip() if field == "name" else changes[field]
            if getattr(row, field) != value:
                diff[field] = [getattr(row, field), value]
                setattr(row, field, value)
    if changes.get("settings"):
        merged = {**(row.settings or {}), **changes["settings"]}
        before, after = effective_settings(row.settings), effective_settings(merged)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changed:
            diff["settings"] = changed
        row.settings = merged
    if diff:
        row.updated_at = now
        session().add(
            TenantEvent(
                tenant_id=row.id, type="updated", actor=_label(actor), data=diff, created_at=now
            )
        )
    return row


@transactional
def set_status(
    *, slug: str, status: str, now: datetime, actor: Any = None, reason: str | None = None
) -> Tenant:
    """Suspend or reactivate a tenant (platform operators); recorded as an event."""
    if status not in TENANT_STATUSES:
        raise errors.validation_error({"status": ["Must be active or suspended."]})
    tenant = session().scalar(sa.select(Tenant).where(Tenant.slug == slug).with_for_update())
    if tenant is None:
        raise errors.TenantNotFound(f"No tenant {slug!r}.")
    if tenant.status != status:
        data: dict[str, Any] = {"from": tenant.status}
        if reason:
            data["reason"] = reason
        session().add(
            TenantEvent(
                tenant_id=tenant.id,
                type="activated" if status == "active" else "suspended",
                actor=_label(actor),
                data=data,
                created_at=now,
            )
        )
        tenant.status = status
        tenant.updated_at = now
    return tenant


def list_all(*, status: str | None = None) -> list[Tenant]:
    """Every tenant (operators, CLI), by slug."""
    stmt = sa.select(Tenant).order_by(Tenant.slug)
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    return list(session().scalars(stmt))


def for_each_tenant(work: Any, *, log: Any = None, status: str | None = "active") -> int:
    """Run `work(tenant_ref)` for every tenant (active ones by default), that tenant current.

    One tenant's failure is logged and rolled back; the others still run. Returns how many
    tenants completed.
    """
    refs = [to_ref(t) for t in list_all(status=status)]
    session().rollback()
    done = 0
    for ref in refs:
        try:
            with tenancy.using(ref):
                work(ref)
            done += 1
        except Exception:
            if log is not None:
                log.exception("periodic work failed for tenant %s", ref.slug)
            session().rollback()
    return done


def events(*, tenant_id: uuid.UUID) -> list[TenantEvent]:
    """A tenant's lifecycle history, oldest first."""
    return list(
        session().scalars(
            sa.select(TenantEvent)
            .where(TenantEvent.tenant_id == tenant_id)
            .order_by(TenantEvent.created_at, TenantEvent.id)
        )
    )


# --- domains ------------------------------------------------------------------------------------


def list_domains(
    *, tenant: tenancy.TenantRef, pagination: PaginationParameters
) -> list[TenantDomain]:
    stmt = (
        sa.select(TenantDomain)
        .where(TenantDomain.tenant_id == tenant.id)
        .order_by(TenantDomain.domain)
    )
    return paginate(stmt, pagination)


@transactional
def add_domain(
    *, tenant: tenancy.TenantRef, actor: Any, now: datetime, domain: str, base_domain: str
) -> TenantDomain:
    """Register a custom domain for the tenant; 409 `domain_taken` when any tenant has it."""
    host = normalize_domain(domain, base_domain)
    row = _locked(tenant)
    sess = session()
    if sess.scalar(sa.select(TenantDomain.id).where(TenantDomain.domain == host)) is not None:
        raise errors.DomainTaken(f"{host} is already registered.")
    count = sess.scalar(
        sa.select(sa.func.count()).select_from(TenantDomain).where(TenantDomain.tenant_id == row.id)
    )
    if (count or 0) >= MAX_DOMAINS:
        raise errors.validation_error({"domain": [f"At most {MAX_DOMAINS} domains per business."]})
    added = TenantDomain(tenant_id=row.id, domain=host, created_at=now)
    sess.add(added)
    sess.add(
        TenantEvent(
            tenant_id=row.id,
            type="domain_added",
            actor=_label(actor),
            data={"domain": host},
            created_at=now,
        )
    )
    sess.flush()
    return added


@transactional
def remove_domain(
    *, tenant: tenancy.TenantRef, actor: Any, now: datetime, domain_id: uuid.UUID
) -> None:
    row = _locked(tenant)
    sess = session()
    found = sess.scalar(
        sa.select(TenantDomain).where(
            TenantDomain.id == domain_id, TenantDomain.tenant_id == row.id
        )
    )
    if found is None:
        raise errors.NotFound("No such domain for this business.")
    sess.delete(found)
    sess.add(
        TenantEvent(
            tenant_id=row.id,
            type="domain_removed",
            actor=_label(actor),
            data={"domain": found.domain},
            created_at=now,
        )
    )
