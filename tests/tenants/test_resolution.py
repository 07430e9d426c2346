"""Which tenant a request addresses: a registered domain, `<slug>.<base domain>`, `X-Tenant`."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event

from bookme.core import clock, errors, tenancy
from bookme.core.db import session
from bookme.tenants import service
from bookme.tenants.models import TenantDomain

BASE = "bookme.test"  # the tests' BOOKME_BASE_DOMAIN


def member_list_routes(app: Flask) -> list[str]:
    """Tenant-scoped GET routes without path parameters (whichever modules exist)."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        access = getattr(app.view_functions[rule.endpoint], "_bookme_access", None)
        if (
            rule.rule.startswith("/api/v1/")
            and "GET" in rule.methods
            and not rule.arguments
            and access is not None
            and access[0] == "member"
        ):
            found.append(rule.rule)
    return found


def _domain(tenant, host):
    session().add(TenantDomain(tenant_id=tenant.id, domain=host))
    session().commit()


@pytest.fixture
def route(app, client, tenant):
    """One such route that answers the tenant's owner 200 without arguments."""
    for rule in member_list_routes(app):
        if client.get(rule, headers=tenant.headers()).status_code == 200:
            return rule
    raise AssertionError("no tenant-scoped list route answers without arguments")


# --- over HTTP ----------------------------------------------------------------------------------


def test_a_registered_domain_in_host_addresses_its_tenant(client, tenant, route):
    _domain(tenant, "booking.salon.ma")
    response = client.get(route, headers={**tenant.owner.headers, "Host": "booking.salon.ma"})
    assert response.status_code == 200, response.get_json()


def test_host_is_matched_without_port_case_or_trailing_dot(client, tenant, route):
    _domain(tenant, "booking.salon.ma")
    for host in ("Booking.Salon.MA:8443", "booking.salon.ma.", f"{tenant.slug.upper()}.{BASE}:80"):
        response = client.get(route, headers={**tenant.owner.headers, "Host": host})
        assert response.status_code == 200, (host, response.get_json())


def test_the_slug_subdomain_of_the_base_domain_addresses_its_tenant(client, tenant, route):
    response = client.get(route, headers={**tenant.owner.headers, "Host": f"{tenant.slug}.{BASE}"})
    assert response.status_code == 200


def test_x_tenant_addresses_a_tenant_when_the_host_does_not(client, tenant, route):
    response = client.get(
        route, headers={**tenant.owner.headers, "Host": "api.example.net", "X-Tenant": tenant.slug}
    )
    assert response.status_code == 200


def test_the_host_wins_over_x_tenant(client, tenant, other_tenant, route):
    # The owner of `tenant` names the other tenant in X-Tenant, but the Host is tenant's own:
    # the request is for tenant (200), not for the other one (which would be 403).
    _domain(tenant, "mine.example.com")
    for host in ("mine.example.com", f"{tenant.slug}.{BASE}"):
        headers = {**tenant.owner.headers, "Host": host, "X-Tenant": other_tenant.slug}
        assert client.get(route, headers=headers).status_code == 200
    headers = {
        **tenant.owner.headers,
        "Host": f"{other_tenant.slug}.{BASE}",
        "X-Tenant": tenant.slug,
    }
    assert client.get(route, headers=headers).status_code == 403


def test_a_subdomain_that_is_no_tenants_defers_to_x_tenant(client, tenant, route):
    # API.md: the Host names the tenant when it is one of its domains, else X-Tenant does.
    headers = {**tenant.owner.headers, "Host": f"nosuch.{BASE}", "X-Tenant": tenant.slug}
    assert client.get(route, headers=headers).status_code == 200
    response = client.get(route, headers={**tenant.owner.headers, "Host": f"nosuch.{BASE}"})
    assert (response.status_code, response.get_json()["code"]) == (404, "tenant_not_found")
    headers = {**tenant.owner.headers, "Host": f"nosuch.{BASE}", "X-Tenant": "nosuch-either"}
    assert client.get(route, headers=headers).get_json()["code"] == "tenant_not_found"


def test_the_platforms_own_subdomains_defer_to_x_tenant(client, tenant, route):
    for host in (f"api.{BASE}", f"www.{BASE}"):
        headers = {**tenant.owner.headers, "Host": host, "X-Tenant": tenant.slug}
        assert client.get(route, headers=headers).status_code == 200, host
        response = client.get(route, headers={**tenant.owner.headers, "Host": host})
        assert response.get_json()["code"] == "tenant_required"


def test_no_tenant_is_400_tenant_required(client, tenant, route):
    for host in ("localhost", BASE, f"a.b.{BASE}"):
        response = client.get(route, headers={**tenant.owner.headers, "Host": host})
        assert response.status_code == 400, host
        assert response.get_json()["code"] == "tenant_required"
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tenant": "no-such-salon"},
        {"Host": f"no-such-salon.{BASE}"},
        {"X-Tenant": "x" * 500},
        {"X-Tenant": "'; DROP TABLE public.tenants; --"},
        {"X-Tenant": "../../etc"},
    ],
)
def test_an_unknown_tenant_is_404_tenant_not_found(client, tenant, route, headers):
    response = client.get(route, headers={**tenant.owner.headers, **headers})
    assert response.status_code == 404
    assert response.get_json()["code"] == "tenant_not_found"


def test_a_suspended_tenant_is_403_tenant_suspended_even_for_its_owner(client, tenant, route):
    service.set_status(slug=tenant.slug, status="suspended", now=clock.now())
    _domain(tenant, "suspended.example.com")
    for headers in ({"X-Tenant": tenant.slug}, {"Host": "suspended.example.com"}):
        response = client.get(route, headers={**tenant.owner.headers, **headers})
        assert response.status_code == 403
        assert response.get_json()["code"] == "tenant_suspended"
    service.set_status(slug=tenant.slug, status="active", now=clock.now())
    assert client.get(route, headers=tenant.headers()).status_code == 200


def test_a_suspended_tenant_is_not_named_suspended_to_a_non_member(
    client, tenant, other_tenant, route
):
    service.set_status(slug=tenant.slug, status="suspended", now=clock.now())
    response = client.get(route, headers={**other_tenant.owner.headers, "X-Tenant": tenant.slug})
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    service.set_status(slug=tenant.slug, status="active", now=clock.now())


# --- the resolver itself ------------------------------------------------------------------------


def test_resolve_returns_the_tenants_reference(db, tenant):
    _domain(tenant, "ref.example.com")
    for host, header in (
        ("ref.example.com", None),
        (f"{tenant.slug}.{BASE}", None),
        ("x.io", tenant.slug),
    ):
        ref = service.resolve(host, header, BASE)
        assert ref.id == tenant.id
        assert ref.slug == tenant.slug
        assert ref.schema == tenancy.schema_for(tenant.id)
        assert (ref.timezone, ref.currency, ref.locale, ref.status) == (
            "Africa/Casablanca",
            "MAD",
            "fr",
            "active",
        )


def test_resolve_without_any_tenant_raises_tenant_required(db):
    with pytest.raises(errors.TenantRequired):
        service.resolve("localhost:5000", None, BASE)
    with pytest.raises(errors.TenantRequired):
        service.resolve(None, "   ", BASE)


def test_resolution_is_one_query(db, tenant):
    _domain(tenant, "one.example.com")
    statements: list[str] = []
    connection = session().connection()

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        for host, header in (
            ("one.example.com", None),
            (f"{tenant.slug}.{BASE}", None),
            ("x", tenant.slug),
        ):
            statements.clear()
            service.resolve(host, header, BASE)
            assert len(statements) == 1, statements
    finally:
        event.remove(connection, "before_cursor_execute", record)


@pytest.mark.parametrize("lateral", [None, "member"])
def test_resolution_uses_the_unique_indexes_of_domains_and_slugs(db, lateral):
    """Alone, and with the member check asked in the same round trip (users/access.py)."""
    from bookme.users.access import _MEMBER

    conn = session().connection()
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    statement = service._resolve_statement(_MEMBER if lateral else None).text
    compiled = (
        statement.replace(":host", "'a.example.com'")
        .replace(":header_slug", "'abd'")
        .replace(":slug", "'abc'")
        .replace(":user_id", f"'{uuid.uuid4()}'")
        .replace(":keys", "'{x}'")
    )
    plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + compiled))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = on")
    assert "uq_tenant_domains_domain" in plan
    assert "uq_tenants_slug" in plan
    assert "Seq Scan" not in plan


def test_a_request_runs_on_its_tenants_schema(app, client, tenant, other_tenant):
    """Whatever tenant ran before on this thread, a request sees only its own schema."""
    schemas = []
    ref = service.tenant_ref_by_slug(other_tenant.slug)
    with app.test_request_context("/", headers={"X-Tenant": tenant.slug}):
        tenancy.activate(ref)
        from bookme.users.access import resolve_tenant

        resolved = resolve_tenant()
        schemas.append(session().execute(sa.text("SELECT current_schemas(false)")).scalar_one())
    assert resolved.id == tenant.id
    assert schemas[0][0] == tenancy.schema_for(tenant.id)
    assert tenancy.schema_for(other_tenant.id) not in schemas[0]
