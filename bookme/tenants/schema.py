"""Tenant schemas: created and migrated with the tenant branch of the migrations."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bookme.core.db import forget_search_path
from bookme.core.tenancy import SCHEMA_RE

log = logging.getLogger("bookme.tenants.schema")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
TENANT_MIGRATIONS_DIR = MIGRATIONS_DIR / "tenant"


_migrations_dir: ContextVar[Path] = ContextVar(
    "bookme_tenant_migrations", default=TENANT_MIGRATIONS_DIR
)


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


SPARE_RE = re.compile(r"^spare_[0-9a-f]{32}$")
SPARE_SCHEMAS = 5  # kept ready by `flask db upgrade` and the periodic top-up


def _checked(schema: str) -> str:
    if not (SCHEMA_RE.fullmatch(schema) or SPARE_RE.fullmatch(schema)):
        raise ValueError(f"refusing unexpected schema name {schema!r}")
    return schema


def migrate_schema(connection: sa.Connection, schema: str, target: str = "head") -> str | None:
    """Bring one tenant schema to `target` inside the connection's current transaction.

    Returns the revision it was at before (None for a new schema).
    """
    schema = _checked(schema)
    script = tenant_script()
    connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
    forget_search_path(connection)
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


def build_schema(connection: sa.Connection, schema: str) -> None:
    """Create `schema` with every tenant table at head, in the caller's transaction.

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
    forget_search_path(connection)
    try:
        cursor.execute(script)
    except dbapi.Error as exc:
        # As SQLAlchemy would have raised it: callers map database errors in one place.
        raise sa.exc.DBAPIError.instance(
            f"provisioning script for {schema}", None, exc, dbapi.Error
        ) from exc
    finally:
        cursor.close()


_CLAIM_SPARE = sa.text(
    """
    DELETE FROM public.spare_schemas
     WHERE schema_name = (SELECT schema_name FROM public.spare_schemas WHERE revision = :head
                          ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING schema_name
    """
)


def create_schema(connection: sa.Connection, schema: str) -> bool:
    """Give a new tenant its schema at head, in the caller's transaction; True if a spare.

    A spare schema built ahead at the same head is claimed and renamed (one statement); with
    none ready, the schema is built now. Either way a rollback leaves nothing behind: the
    spare goes back to the pool under its old name. The search_path is left on `schema`.
    """
    schema = _checked(schema)
    spare = connection.execute(_CLAIM_SPARE, {"head": tenant_head()}).scalar()
    if spare is None:
        build_schema(connection, schema)
        return False
    connection.exec_driver_sql(f'ALTER SCHEMA "{_checked(spare)}" RENAME TO "{schema}"')
    connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
    forget_search_path(connection)
    return True


def engine_of_session() -> sa.Engine:
    """The engine the app's session uses (the CLI and jobs commit on their own connections)."""
    from bookme.core.db import session

    bind = session().get_bind()
    return bind.engine if isinstance(bind, sa.Connection) else bind  # type: ignore[return-value]


def top_up_spares(
    engine: sa.Engine, count: int = SPARE_SCHEMAS, echo: Callable[[str], None] = print
) -> dict[str, int]:
    """Drop spare schemas left at another revision and build new ones until `count` are ready.

    One transaction per spare, each holding an advisory lock, so concurrent top-ups (a
    scheduler tick during a release) do not overfill.
    """
    head = tenant_head()
    dropped = built = 0
    with engine.begin() as conn:
        stale = (
            conn.execute(
                sa.text(
                    "SELECT schema_name FROM public.spare_schemas WHERE revision <> :head"
                    " FOR UPDATE SKIP LOCKED"
                ),
                {"head": head},
            )
            .scalars()
            .all()
        )
        for name in stale:
            drop_schema(conn, name)
            conn.execute(
                sa.text("DELETE FROM public.spare_schemas WHERE schema_name = :n"), {"n": name}
            )
            dropped += 1
    while True:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('bookme.spare_schemas'))"))
            ready = conn.execute(
                sa.text("SELECT count(*) FROM public.spare_schemas WHERE revision = :head"),
                {"head": head},
            ).scalar_one()
            if ready >= count:
                break
            name = f"spare_{uuid.uuid4().hex}"
            build_schema(conn, name)
            conn.execute(
                sa.text("INSERT INTO public.spare_schemas (schema_name, revision) VALUES (:n, :r)"),
                {"n": name, "r": head},
            )
            built += 1
    if dropped or built:
        echo(f"spare tenant schemas: {dropped} dropped (older revision), {built} built at {head}")
    return {"dropped": dropped, "built": built}


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
                    sa.text("SELECT schema_revision FROM public.tenants WHERE id = :id FOR UPDATE"),
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
    if target == "head":
        top_up_spares(engine, echo=echo)
    return {"total": len(rows), "migrated": done}
