"""Tenant schemas: created and migrated with the tenant branch of the migrations."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from bookme.core.tenancy import SCHEMA_RE

log = logging.getLogger("bookme.tenants.schema")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
TENANT_MIGRATIONS_DIR = MIGRATIONS_DIR / "tenant"


@functools.cache
def tenant_script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(TENANT_MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def tenant_head() -> str:
    head = tenant_script().get_current_head()
    if head is None:
        raise RuntimeError("the tenant migration branch has no revisions")
    return head


def _checked(schema: str) -> str:
    if not SCHEMA_RE.match(schema):
        raise ValueError(f"refusing unexpected schema name {schema!r}")
    return schema


def migrate_schema(connection: sa.Connection, schema: str, target: str = "head") -> str | None:
    """Bring one tenant schema to `target` inside the connection's current transaction.

    Returns the revision it was at before (None for a new schema).
    """
    schema = _checked(schema)
    script = tenant_script()
    connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
    before: dict[str, Any] = {}

    def upgrade(rev: Any, context: Any) -> Any:
        before["rev"] = context.get_current_revision()
        return script._upgrade_revs(target, rev)

    config = Config()
    config.set_main_option("script_location", str(TENANT_MIGRATIONS_DIR))
    with EnvironmentContext(config, script, fn=upgrade, destination_rev=target) as env:
        env.configure(
            connection=connection,
            version_table_schema=schema,
            transactional_ddl=True,
            transaction_per_migration=False,
        )
        env.run_migrations()
    return before.get("rev")


def create_schema(connection: sa.Connection, schema: str) -> None:
    """Create a tenant's schema and migrate it to head, in the caller's transaction."""
    schema = _checked(schema)
    connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    migrate_schema(connection, schema)


def drop_schema(connection: sa.Connection, schema: str) -> None:
    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{_checked(schema)}" CASCADE')


def upgrade_all(
    engine: sa.Engine, echo: Callable[[str], None] = print, target: str = "head"
) -> dict[str, int]:
    """Migrate every tenant schema, one transaction each, resuming where a run stopped."""
    head = tenant_head() if target == "head" else target
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, slug, schema_name, schema_revision FROM public.tenants ORDER BY created_at"
            )
        ).all()
    pending = [r for r in rows if r.schema_revision != head]
    echo(f"tenant schemas: {len(rows)} total, {len(pending)} to migrate to {head}")
    done = 0
    for index, row in enumerate(pending, start=1):
        with engine.begin() as conn:
            conn.execute(
                sa.text("SELECT 1 FROM public.tenants WHERE id = :id FOR UPDATE"), {"id": row.id}
            )
            previous = migrate_schema(conn, row.schema_name, head)
            conn.execute(
                sa.text("UPDATE public.tenants SET schema_revision = :rev WHERE id = :id"),
                {"rev": head, "id": row.id},
            )
        done += 1
        echo(f"  [{index}/{len(pending)}] {row.slug}: {previous or 'base'} -> {head}")
    return {"total": len(rows), "migrated": done}
