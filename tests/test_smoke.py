"""The harness itself: a tenant provisions inside the test transaction and isolates."""

import sqlalchemy as sa

from bookme.core import tenancy
from bookme.core.db import session


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_provisioned_tenant_has_its_own_tables(tenant, db):
    schema = session().execute(
        sa.text("SELECT schema_name FROM public.tenants WHERE slug = :s"), {"s": tenant.slug}
    ).scalar_one()
    tables = session().execute(
        sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
        {"s": schema},
    ).scalar_one()
    assert tables >= 9


def test_without_a_tenant_tenant_tables_are_unreachable(tenant, db):
    tenancy.activate(None)
    try:
        with session().begin_nested():
            session().execute(sa.text("SELECT 1 FROM services"))
        raise AssertionError("a tenant table was reachable without a tenant")
    except sa.exc.ProgrammingError as exc:
        assert "does not exist" in str(exc.orig)
