"""The search_path in force is tracked per connection, and never trusted when it could be wrong.

These run on the app's own engine and session with real COMMITs and ROLLBACKs (not the
per-test outer transaction), since what they check is what those do to the path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bookme.core import tenancy
from bookme.core.db import session
from tests.conftest import TenantInfo


def _ref() -> tenancy.TenantRef:
    tenant_id = uuid.uuid4()
    return tenancy.TenantRef(
        id=tenant_id,
        slug=f"t{tenant_id.hex[:8]}",
        schema=tenancy.schema_for(tenant_id),
        timezone="UTC",
        currency="MAD",
        locale="fr",
        status="active",
    )


def _path() -> str:
    return str(session().execute(sa.text("SHOW search_path")).scalar())


@pytest.fixture
def real_session(app: Flask) -> Iterator[None]:
    from bookme.extensions import db

    with app.app_context():
        try:
            yield
        finally:
            session().rollback()
            tenancy.activate(None)
            db.session.remove()


def test_a_new_connection_starts_on_public(app: Flask, real_session: None) -> None:
    from bookme.extensions import db

    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW search_path").scalar() == "public"


def test_after_a_tenant_transaction_ends_the_next_one_without_tenant_is_on_public(
    real_session: None,
) -> None:
    tenant = _ref()
    for _ in range(3):  # the pool hands the same connection back
        tenancy.activate(tenant)
        assert _path() == f"{tenant.schema}, public"
        session().commit()
        tenancy.activate(None)
        assert _path() == "public"
        session().rollback()


def test_a_rolled_back_savepoint_makes_the_path_be_set_again(real_session: None) -> None:
    first, second = _ref(), _ref()
    tenancy.activate(first)
    assert _path() == f"{first.schema}, public"
    savepoint = session().begin_nested()
    tenancy.activate(second)
    assert _path() == f"{second.schema}, public"
    savepoint.rollback()  # PostgreSQL is back on the first tenant's path
    assert _path() == f"{first.schema}, public"
    tenancy.activate(second)  # must not be skipped as "already there"
    assert _path() == f"{second.schema}, public"


def test_a_transaction_that_begins_with_a_tenant_active_is_on_its_path(real_session: None) -> None:
    tenant = _ref()
    tenancy.activate(tenant)
    session().commit()
    # A new transaction, tenant still active: after_begin sets the path again after COMMIT
    # undid it.
    assert _path() == f"{tenant.schema}, public"


def test_resolving_a_requests_tenant_also_puts_the_transaction_on_its_path(
    app: Flask, client: FlaskClient, tenant: TenantInfo
) -> None:
    from bookme.extensions import db

    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get("/api/v1/services", headers=tenant.headers())
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert any("set_config('search_path'" in s for s in sent)
    assert not any(s.lstrip().upper().startswith("SET") for s in sent), sent
