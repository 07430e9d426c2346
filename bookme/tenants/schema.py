"""Tenant schemas: created and migrated with the tenant branch of the migrations."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bookme.core.tenancy import SCHEMA_RE

log = logging.getLogger("bookme.tenants.schema")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
TENANT_MIGRATIONS_DIR = MIGRATIONS_DIR / "tenant"


_migrations_dir: ContextVar[Path] = ContextVar("bookme_tenant_migrations", default=TENANT_MIGRATIONS_DIR)


@contextlib.contextmanager
def using_migrations(directory: Path) -> Iterator[None]:
    """Take tenant revisions from `directory` (tests and the benchmark add temporary ones)."""
    token = _migrations_dir.set(Path(directory))
    try:
        yield
    finally:
        _migrations_dir.reset(token)


@functools.cache
def _script(directory: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return ScriptDirectory.from_config(config)


def tenant_script() -> ScriptDirectory:
    return _script(_migrations_dir.get())


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

    # A bare MigrationContext, not an EnvironmentContext: this also runs inside `flask db
    # upgrade`, whose own EnvironmentContext holds alembic's module-level `context` proxy.
    context = MigrationContext.configure(
        connection,
        opts={
            "script": script,
            "fn": upgrade,
            "destination_rev": target,
            "version_table_schema": schema,
            "transactional_ddl": True,
            "transaction_per_migration": False,
        },
    )
    with Operations.context(context):
        context.run_migrations()
    return before.get("rev")


@functools.cache
def _new_schema_sql(directory: Path, head: str) -> str | None:
    """The DDL taking an empty schema to `head`, rendered once per process; None if it can't be.

    Alembic's offline mode renders the tenant branch as plain SQL with unqualified names, so
    the same script provisions any schema put first on the search_path. A migration that
    reads the database (`op.get_bind()`) cannot be rendered; provisioning then runs the
    migrations one by one instead.
    """
    script = _script(directory)
    buffer = io.StringIO()

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(head, rev)

    try:
        context = MigrationContext.configure(
            dialect_name="postgresql",
            dialect_opts={"paramstyle": "named"},
            opts={
                "script": script,
                "fn": upgrade,
                "destination_rev": head,
                "as_sql": True,
                "output_buffer": buffer,
                "transactional_ddl": False,
                "literal_binds": True,
            },
        )
        with Operations.context(context):
            context.run_migrations()
    except Exception:
        log.warning(
            "tenant migrations cannot be rendered as SQL; provisioning runs them one by one",
            exc_info=True,
        )
        return None
    return buffer.getvalue()


def create_schema(connection: sa.Connection, schema: str) -> None:
    """Create a tenant's schema with its tables at head, in the caller's transaction.

    One round trip: the schema, the search_path and the pre-rendered DDL as one script
    (several statements need the driver's cursor without parameters). The caller's
    search_path is left pointing at the new schema.
    """
    schema = _checked(schema)
    sql = _new_schema_sql(_migrations_dir.get(), tenant_head())
    if sql is None:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        migrate_schema(connection, schema)
        return
    script = f'CREATE SCHEMA "{schema}";\nSET LOCAL search_path TO "{schema}", public;\n{sql}'
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(script)
    except dbapi.Error as exc:
        # As SQLAlchemy would have raised it: callers map database errors in one place.
        raise sa.exc.DBAPIError.instance(
            f"provisioning script for {schema}", None, exc, dbapi.Error
        ) from exc
    finally:
        cursor.close()


def drop_schema(connection: sa.Connection, schema: str) -> None:
    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{_checked(schema)}" CASCADE')


def upgrade_all(
    engine: sa.Engine, echo: Callable[[str], None] = print, target: str = "head"
) -> dict[str, int]:
    """Migrate every tenant schema, one transaction each, resuming where a run stopped.

    A schema and its `tenants.schema_revision` change in the same transaction, so an
    interrupted or failed run leaves every tenant either done or untouched; running it again
    migrates only those not yet at `target`.
    """
    head = tenant_head() if target == "head" else target
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, slug, schema_name, schema_revision FROM public.tenants"
                " ORDER BY created_at, slug"
            )
        ).all()
    pending = [r for r in rows if r.schema_revision != head]
    echo(f"tenant schemas: {len(rows)} total, {len(pending)} to migrate to {head}")
    started = time.monotonic()
    done = 0
    for index, row in enumerate(pending, start=1):
        try:
            with engine.begin() as conn:
                locked = conn.execute(
                    sa.text(
                        "SELECT schema_revision FROM public.tenants WHERE id = :id FOR UPDATE"
                    ),
                    {"id": row.id},
                ).first()
                if locked is None or locked.schema_revision == head:
                    continue  # deleted, or migrated by a concurrent run meanwhile
                previous = migrate_schema(conn, row.schema_name, head)
                conn.execute(
                    sa.text("UPDATE public.tenants SET schema_revision = :rev WHERE id = :id"),
                    {"rev": head, "id": row.id},
                )
        except Exception as exc:
            echo(
                f"  [{index}/{len(pending)}] {row.slug}: FAILED ({type(exc).__name__}); "
                f"{done} migrated, this one and {len(pending) - index} after it left as they "
                "were. Fix the cause and run the upgrade again to resume."
            )
            raise
        done += 1
        echo(f"  [{index}/{len(pending)}] {row.slug}: {previous or 'base'} -> {head}")
    if pending:
        echo(f"tenant schemas: {done} migrated in {time.monotonic() - started:.1f}s")
    return {"total": len(rows), "migrated": done}
