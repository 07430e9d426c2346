"""The migrations and the models describe the same database, for public and tenant schemas."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bookme.core.db import Base
from bookme.tenants import schema as tenant_schema

SCRATCH = "tenant_" + "0" * 31 + "1"


def _diff(connection: sa.Connection, **opts: Any) -> list[Any]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True, **opts})
    diff = compare_metadata(ctx, Base.metadata)
    # An expression index reflects in PostgreSQL's own spelling (casts, schema prefixes), so
    # the same index shows up as removed and re-added under one name: compare names only.
    removed = {d[1].name for d in diff if isinstance(d, tuple) and d[0] == "remove_index"}
    added = {d[1].name for d in diff if isinstance(d, tuple) and d[0] == "add_index"}
    same = removed & added
    return [
        d for d in diff
        if not (isinstance(d, tuple) and d[0] in ("remove_index", "add_index") and d[1].name in same)
    ]


# Alembic cannot compare expression indexes with operator classes (trigram search); it says
# so in a warning and skips them, which is all it can do.
@pytest.mark.filterwarnings("ignore:Expression #.*operator clause")
def test_tenant_migrations_match_the_tenant_models(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    setup = sa.create_engine(url)
    try:
        with setup.begin() as conn:
            tenant_schema.drop_schema(conn, SCRATCH)
            tenant_schema.create_schema(conn, SCRATCH)
        # Only the scratch schema on the path: reflection lists every visible table.
        engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={SCRATCH}"})
        with engine.connect() as conn:
            diff = _diff(
                conn,
                include_object=lambda obj, name, type_, reflected, compare_to: (
                    type_ != "table" or (obj.schema is None and name != "alembic_version")
                ),
            )
        engine.dispose()
    finally:
        with setup.begin() as conn:
            tenant_schema.drop_schema(conn, SCRATCH)
        setup.dispose()
    assert diff == [], f"tenant models and migrations differ: {diff}"


def test_public_migrations_match_the_public_models(app):
    # With public as the default schema, reflection would report its tables as schema None.
    engine = sa.create_engine(
        app.config["SQLALCHEMY_DATABASE_URI"], connect_args={"options": "-csearch_path=pg_catalog"}
    )
    with engine.connect() as conn:
        diff = _diff(
            conn,
            include_schemas=True,
            include_name=lambda name, type_, parents: type_ != "schema" or name == "public",
            include_object=lambda obj, name, type_, reflected, compare_to: (
                type_ != "table" or (obj.schema == "public" and name != "alembic_version")
            ),
        )
    engine.dispose()
    assert diff == [], f"public models and migrations differ: {diff}"
