"""Tenant schemas: provisioning is all or nothing, `flask db upgrade` migrates every schema and
resumes where it stopped.

These tests commit for real, in a scratch database of their own (`<test db>_scratch`), so
`upgrade_all` sees exactly the tenants they create; each test removes its tenants after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import scoped_session, sessionmaker

from bookme.core import errors
from bookme.tenants import schema as tenant_schema
from bookme.tenants import service
from tests.conftest import SERVICES, _admin_url, _recreate_database, make_user

ROOT = Path(__file__).resolve().parents[2]
EXTRA = "t9001"


def _flask(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLASK_APP": "wsgi:app",
        "DATABASE_URL": url,
        "REDIS_URL": SERVICES.redis_url,
        "BOOKME_ENV": "development",
        "BOOKME_LOG_JSON": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def scratch(app) -> Iterator[dict[str, Any]]:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    scratch_url = url.set(database=f"{url.database}_scratch").render_as_string(hide_password=False)
    _recreate_database(scratch_url)
    first = _flask(scratch_url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    engine = sa.create_engine(scratch_url)
    try:
        yield {"url": scratch_url, "engine": engine, "first_upgrade": first.stderr + first.stdout}
    finally:
        engine.dispose()
        admin_url, name = _admin_url(scratch_url)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def committed(app, scratch) -> Iterator[sa.Engine]:
    """The app's session on the scratch database, committing for real; tenants removed after."""
    from bookme.extensions import db as fsa

    engine = scratch["engine"]
    original = fsa.session
    fsa.session = scoped_session(sessionmaker(bind=engine, expire_on_commit=False))
    try:
        with app.app_context():
            yield engine
    finally:
        fsa.session.remove()
        fsa.session = original
        with engine.begin() as conn:
            # Tenants, and spares (some tests build them at revisions of temporary chains).
            for (schema,) in conn.execute(
                sa.text(
                    "SELECT nspname FROM pg_namespace"
                    " WHERE nspname LIKE 'tenant\\_%' OR nspname LIKE 'spare\\_%'"
                )
            ):
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(sa.text("DELETE FROM public.spare_schemas"))
            conn.execute(sa.text("DELETE FROM public.tenants"))
            conn.execute(sa.text("DELETE FROM public.users"))


def _migrations(tmp_path: Path, upto: str | None = None, extra: str | None = None) -> Path:
    """A copy of the tenant migrations, cut at `upto`, plus an `extra` revision after head.

    Laid out like the repository (`migrations/tenant/versions`, `sql/` beside `migrations/`),
    since revisions read their versioned SQL files relative to themselves.
    """
    dest = tmp_path / "migrations" / "tenant"
    (dest / "versions").mkdir(parents=True)
    (tmp_path / "sql").symlink_to(ROOT / "sql", target_is_directory=True)
    shutil.copy(tenant_schema.TENANT_MIGRATIONS_DIR / "script.py.mako", dest)
    script = tenant_schema.tenant_script()
    head = script.get_current_head()
    for revision in script.iterate_revisions(upto or head, "base"):
        shutil.copy(revision.path, dest / "versions")
    if extra is not None:
        (dest / "versions" / f"{EXTRA}_extra.py").write_text(
            f"import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {EXTRA!r}\ndown_revision = {head!r}\nbranch_labels = None\n"
            f"depends_on = None\n\n\ndef upgrade():\n{extra}\n\n\ndef downgrade():\n    pass\n"
        )
    return dest


def _version(conn: sa.Connection, slug: str) -> tuple[str, str]:
    """(alembic_version in the tenant's schema, tenants.schema_revision)."""
    row = conn.execute(
        sa.text("SELECT schema_name, schema_revision FROM public.tenants WHERE slug = :s"),
        {"s": slug},
    ).one()
    in_schema = conn.execute(
        sa.text(f'SELECT version_num FROM "{row.schema_name}".alembic_version')
    ).scalar_one()
    return in_schema, row.schema_revision


def _has_column(conn: sa.Connection, slug: str, table: str, column: str) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM information_schema.columns c"
                " JOIN public.tenants t ON t.schema_name = c.table_schema"
                " WHERE t.slug = :s AND c.table_name = :t AND c.column_name = :c"
            ),
            {"s": slug, "t": table, "c": column},
        ).scalar_one()
    )


def _make(slugs: list[str]) -> None:
    owner = make_user()
    base = datetime(2027, 1, 1, tzinfo=UTC)
    for index, slug in enumerate(slugs):
        service.create_tenant(
            slug=slug, name=slug, owner_id=owner.id, now=base + timedelta(minutes=index)
        )


# --- flask db upgrade ---------------------------------------------------------------------------


def test_db_upgrade_migrates_public_first_then_every_tenant_with_progress(
    committed, scratch, tmp_path
):
    first = scratch["first_upgrade"]
    assert first.index("Running upgrade  -> p0001") < first.index("tenant schemas: 0 total")
    assert f"{tenant_schema.SPARE_SCHEMAS} built at {tenant_schema.tenant_head()}" in first
    head = tenant_schema.tenant_head()
    with tenant_schema.using_migrations(_migrations(tmp_path, upto="t0001")):
        _make(["old-salon"])
    _make(["new-salon"])
    with committed.connect() as conn:
        assert _version(conn, "old-salon") == ("t0001", "t0001")

    result = _flask(scratch["url"], "db", "upgrade")

    output = result.stderr + result.stdout
    assert result.returncode == 0, output
    assert f"tenant schemas: 2 total, 1 to migrate to {head}" in output
    assert f"[1/1] old-salon: t0001 -> {head}" in output
    with committed.connect() as conn:
        assert _version(conn, "old-salon") == (head, head)
        assert _version(conn, "new-salon") == (head, head)

    again = _flask(scratch["url"], "db", "upgrade")
    assert f"tenant schemas: 2 total, 0 to migrate to {head}" in again.stderr + again.stdout


def test_an_upgrade_that_fails_midway_resumes_where_it_stopped(committed, tmp_path):
    _make(["first-salon", "second-salon", "third-salon"])
    head = tenant_schema.tenant_head()
    with committed.begin() as conn:
        schema = service.get_by_slug("second-salon").schema_name
        conn.execute(
            sa.text(
                f'INSERT INTO "{schema}".service_categories (name, position)'
                " VALUES ('a', 1), ('b', 1)"
            )
        )
    # Adds a column, then an index the second tenant's data violates: it fails halfway.
    extra = _migrations(
        tmp_path,
        extra=(
            "    op.add_column('service_categories', sa.Column('color', sa.String(7)))\n"
            "    op.create_index('uq_categories_position', 'service_categories', ['position'],"
            " unique=True)"
        ),
    )
    lines: list[str] = []
    with tenant_schema.using_migrations(extra), pytest.raises(sa.exc.IntegrityError):
        tenant_schema.upgrade_all(committed, echo=lines.append)

    assert lines[0] == f"tenant schemas: 3 total, 3 to migrate to {EXTRA}"
    assert lines[1] == f"  [1/3] first-salon: {head} -> {EXTRA}"
    assert "[2/3] second-salon: FAILED" in lines[2]
    with committed.connect() as conn:
        assert _version(conn, "first-salon") == (EXTRA, EXTRA)
        assert _has_column(conn, "first-salon", "service_categories", "color")
        # The failing tenant is rolled back whole: no half-added column.
        assert _version(conn, "second-salon") == (head, head)
        assert not _has_column(conn, "second-salon", "service_categories", "color")
        assert _version(conn, "third-salon") == (head, head)

    with committed.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE \"{schema}\".service_categories SET position = 2 WHERE name = 'b'")
        )
    lines.clear()
    with tenant_schema.using_migrations(extra):
        result = tenant_schema.upgrade_all(committed, echo=lines.append)

    assert result == {"total": 3, "migrated": 2}
    assert lines[0] == f"tenant schemas: 3 total, 2 to migrate to {EXTRA}"
    assert [line.split(":")[0].strip() for line in lines[1:3]] == [
        "[1/2] second-salon",
        "[2/2] third-salon",
    ]
    with committed.connect() as conn:
        for slug in ("first-salon", "second-salon", "third-salon"):
            assert _version(conn, slug) == (EXTRA, EXTRA)
            assert _has_column(conn, slug, "service_categories", "color")


def test_an_upgrade_interrupted_between_tenants_resumes_with_the_rest(committed, tmp_path):
    _make(["one-salon", "two-salon", "three-salon"])
    extra = _migrations(
        tmp_path, extra="    op.add_column('services', sa.Column('flag', sa.Boolean))"
    )

    def interrupt_after_first(line: str) -> None:
        if "[1/3]" in line:
            raise KeyboardInterrupt  # Ctrl-C, or the release process being stopped

    with tenant_schema.using_migrations(extra):
        with pytest.raises(KeyboardInterrupt):
            tenant_schema.upgrade_all(committed, echo=interrupt_after_first)
        with committed.connect() as conn:
            assert _version(conn, "one-salon")[0] == EXTRA
            assert _version(conn, "two-salon")[0] != EXTRA
        assert tenant_schema.upgrade_all(committed, echo=lambda line: None) == {
            "total": 3,
            "migrated": 2,
        }
    with committed.connect() as conn:
        assert all(
            _version(conn, s) == (EXTRA, EXTRA) for s in ("one-salon", "two-salon", "three-salon")
        )


# --- provisioning -------------------------------------------------------------------------------


def _leftovers(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "tenants": conn.execute(sa.text("SELECT count(*) FROM public.tenants")).scalar_one(),
            "events": conn.execute(
                sa.text("SELECT count(*) FROM public.tenant_events")
            ).scalar_one(),
            "memberships": conn.execute(
                sa.text("SELECT count(*) FROM public.memberships")
            ).scalar_one(),
            "schemas": conn.execute(
                sa.text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            ).scalar_one(),
        }


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("    op.execute('SELECT 1 / 0')", id="sql-fails-in-the-provisioning-script"),
        pytest.param(
            "    op.get_bind()\n    raise RuntimeError('boom')", id="migration-fails-run-one-by-one"
        ),
    ],
)
def test_a_failing_provisioning_leaves_nothing_behind(committed, tmp_path, failure):
    owner = make_user()
    from bookme.core.db import session

    session().commit()
    before = _leftovers(committed)
    with (
        tenant_schema.using_migrations(_migrations(tmp_path, extra=failure)),
        pytest.raises((sa.exc.DBAPIError, RuntimeError)),
    ):
        service.create_tenant(slug="doomed-salon", name="Doomed", owner_id=owner.id)
    assert (
        _leftovers(committed)
        == before
        == {"tenants": 0, "events": 0, "memberships": 0, "schemas": 0}
    )


def test_every_way_of_provisioning_builds_the_same_schema(db):
    """Pre-rendered script, claimed spare, migration by migration: one catalog."""
    from bookme.core.db import session

    conn = session().connection()
    built, renamed, migrated = (f"tenant_{uuid.uuid4().hex}" for _ in range(3))
    tenant_schema.build_schema(conn, built)
    spare = f"spare_{uuid.uuid4().hex}"
    tenant_schema.build_schema(conn, spare)
    conn.exec_driver_sql(f'ALTER SCHEMA "{spare}" RENAME TO "{renamed}"')
    conn.exec_driver_sql(f'CREATE SCHEMA "{migrated}"')
    tenant_schema.migrate_schema(conn, migrated)
    reference = _catalog(conn, migrated)
    assert len(reference["columns"]) > 50
    assert _catalog(conn, built) == reference
    assert _catalog(conn, renamed) == reference


def _catalog(conn: sa.Connection, schema: str) -> dict[str, Any]:
    """What a schema holds, with its own name taken out so two schemas compare."""
    params = {"s": schema}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(
            tuple(str(v).replace(f'"{schema}".', "").replace(f"{schema}.", "") for v in row)
            for row in conn.execute(sa.text(sql), params)
        )

    return {
        "columns": rows(
            "SELECT table_name, column_name, data_type, is_nullable, column_default,"
            " character_maximum_length, numeric_precision, numeric_scale, is_identity"
            " FROM information_schema.columns WHERE table_schema = :s"
        ),
        "constraints": rows(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)"
            " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = :s"
        ),
        "indexes": rows(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s"
        ),
        "functions": rows(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s"
        ),
        "types": rows(
            "SELECT t.typname, t.typtype FROM pg_type t"
            " JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = :s AND t.typtype IN ('e', 'd', 'c', 'r', 'm')"
            " AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)"
        ),
        "triggers": rows(
            "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :s AND NOT t.tgisinternal"
        ),
        "sequences": rows(
            "SELECT sequence_name, data_type FROM information_schema.sequences"
            " WHERE sequence_schema = :s"
        ),
        "version": rows(f'SELECT version_num FROM "{schema}".alembic_version'),
    }


def test_provisioning_refuses_a_slug_already_taken_without_touching_anything(committed):
    _make(["taken-salon"])
    before = _leftovers(committed)
    with pytest.raises(errors.SlugTaken):
        service.create_tenant(slug="taken-salon", name="Again")
    assert _leftovers(committed) == before


# --- spare schemas ------------------------------------------------------------------------------


def _spares(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT schema_name, revision FROM public.spare_schemas ORDER BY created_at"
                )
            )
        ]


def _schema_exists(engine: sa.Engine, name: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": name}
            ).scalar_one()
        )


def test_provisioning_claims_a_ready_spare_schema(committed):
    tenant_schema.top_up_spares(committed, count=2, echo=lambda line: None)
    spares = _spares(committed)
    assert len(spares) >= 2
    _make(["quick-salon"])
    tenant = service.get_by_slug("quick-salon")
    left = _spares(committed)
    assert len(left) == len(spares) - 1
    claimed = ({name for name, _ in spares} - {name for name, _ in left}).pop()
    assert not _schema_exists(committed, claimed)
    with committed.connect() as conn:
        assert _version(conn, "quick-salon") == (tenant_schema.tenant_head(),) * 2
        tables = conn.execute(
            sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
            {"s": tenant.schema_name},
        ).scalar_one()
    assert tables > 10


def test_a_failed_provisioning_gives_the_claimed_spare_back(committed, monkeypatch):
    tenant_schema.top_up_spares(committed, count=1, echo=lambda line: None)
    before = _spares(committed)
    real = tenant_schema.create_schema
    claimed: list[bool] = []

    def claim_then_fail(connection, schema):
        claimed.append(real(connection, schema))
        raise RuntimeError("the next step failed")

    monkeypatch.setattr(tenant_schema, "create_schema", claim_then_fail)
    with pytest.raises(RuntimeError):
        _make(["unlucky-salon"])
    assert claimed == [True]
    assert _spares(committed) == before
    assert all(_schema_exists(committed, name) for name, _ in before)
    assert _leftovers(committed)["tenants"] == 0


def test_spares_of_an_older_revision_are_never_claimed_and_get_replaced(committed, tmp_path):
    tenant_schema.top_up_spares(committed, count=2, echo=lambda line: None)
    old = _spares(committed)
    newer = _migrations(
        tmp_path, extra="    op.add_column('services', sa.Column('flag', sa.Boolean))"
    )
    with tenant_schema.using_migrations(newer):
        _make(["newer-salon"])  # built now: the spares are at the previous head
        assert _spares(committed) == old
        lines: list[str] = []
        result = tenant_schema.top_up_spares(committed, count=2, echo=lines.append)
    assert result == {"dropped": len(old), "built": 2}
    assert lines == [
        f"spare tenant schemas: {len(old)} dropped (older revision), 2 built at {EXTRA}"
    ]
    assert [revision for _, revision in _spares(committed)] == [EXTRA, EXTRA]
    assert not any(_schema_exists(committed, name) for name, _ in old)
    with committed.connect() as conn:
        assert _version(conn, "newer-salon") == (EXTRA, EXTRA)
        assert _has_column(conn, "newer-salon", "services", "flag")
    # Back at the real head, the next top-up replaces them again.
    assert tenant_schema.top_up_spares(committed, count=2, echo=lambda line: None)["dropped"] == 2


def test_the_spares_command_and_the_periodic_job_top_the_pool_up(app, committed):
    from bookme.core import periodic
    from bookme.tenants import tasks

    assert "tenants.top_up_spare_schemas" in {job.name for job in periodic.jobs()}
    result = app.test_cli_runner().invoke(args=["bookme", "tenants", "spares", "--count", "7"])
    assert result.exit_code == 0, result.output
    assert len([1 for _, rev in _spares(committed) if rev == tenant_schema.tenant_head()]) >= 7
    with committed.begin() as conn:
        for name, _ in _spares(committed):
            tenant_schema.drop_schema(conn, name)
        conn.execute(sa.text("DELETE FROM public.spare_schemas"))
    tasks.top_up_spare_schemas()
    assert len(_spares(committed)) == tenant_schema.SPARE_SCHEMAS
