"""Tenancy benchmark: provisioning, `flask db upgrade` over 1,000 tenant schemas, resolution.

    .venv/bin/python bench/tenants.py [--provision 100] [--tenants 1000] [--resolve 3000] [--keep]

Builds a fresh database (BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_tenants), runs the public
migrations, then measures:

1. provisioning: `tenants.service.create_tenant` (schema, tables, owner membership, lifecycle
   event, commit) one after the other for `--provision` tenants: median and p95. Target:
   median at most 150 ms.
2. the other tenants up to `--tenants` are provisioned (4 threads; not measured), each with a
   custom domain, then VACUUM ANALYZE.
3. `flask db upgrade` with nothing to do, as a separate process exactly as the release
   phase runs it (interpreter start and app creation included). Target: at most 10 s.
4. `flask db upgrade` with one additive tenant revision (a column and an index on
   `services`), written to a temporary copy of the tenant migrations, never to the repo; the
   same command runs with that copy. Target: at most 60 s.
5. tenant resolution, the work a tenant-scoped request adds (the one resolving query and the
   `SET LOCAL search_path`), inside an open transaction as in a request: by a registered
   domain in Host, by `<slug>.<base domain>` and by `X-Tenant`. Target: at most 1 ms.

The database is dropped afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import drop_database, recreate_database  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_tenants"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
SECRET = "bench-secret-" + "x" * 40
BASE_DOMAIN = "bookme.bench"
EXTRA_REVISION = "t9999"

# Runs the real `flask` CLI, taking tenant revisions from the directory given first.
FLASK_WITH_MIGRATIONS = """
import sys
from pathlib import Path
from bookme.tenants import schema
schema._migrations_dir.set(Path(sys.argv.pop(1)))
from flask.cli import main
sys.argv[0] = "flask"
main()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def flask_cli(*args: str, migrations: Path | None = None) -> tuple[float, str]:
    env = {
        **os.environ,
        "FLASK_APP": "wsgi:app",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "BOOKME_ENV": "development",
        "BOOKME_LOG_JSON": "1",
    }
    if migrations is None:
        command = [sys.executable, "-m", "flask", *args]
    else:
        command = [sys.executable, "-c", FLASK_WITH_MIGRATIONS, str(migrations), *args]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{output[-3000:]}")
    return took, output


def extra_migrations(directory: Path) -> Path:
    from bookme.tenants import schema as tenant_schema

    # Laid out like the repository: revisions read `sql/` relative to themselves.
    (directory / "sql").symlink_to(ROOT / "sql", target_is_directory=True)
    dest = directory / "migrations" / "tenant"
    shutil.copytree(
        tenant_schema.TENANT_MIGRATIONS_DIR, dest, ignore=shutil.ignore_patterns("__pycache__")
    )
    head = tenant_schema.tenant_head()
    (dest / "versions" / f"{EXTRA_REVISION}_bench_additive.py").write_text(
        '"""Benchmark only: an additive change."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {EXTRA_REVISION!r}\ndown_revision = {head!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "    op.add_column('services', sa.Column('bench_note', sa.String(100), nullable=True))\n"
        "    op.create_index('ix_services_bench_note', 'services', ['bench_note'])\n\n\n"
        "def downgrade() -> None:\n"
        "    op.drop_index('ix_services_bench_note', table_name='services')\n"
        "    op.drop_column('services', 'bench_note')\n"
    )
    return dest


def provision_rest(app: Any, start: int, total: int, threads: int = 4) -> None:
    from bookme.tenants.service import create_tenant

    def work(indexes: list[int]) -> None:
        with app.app_context():
            for index in indexes:
                create_tenant(slug=f"bench-{index:05d}", name=f"Bench {index}")

    chunks = [list(range(start + i, total, threads)) for i in range(threads)]
    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def measure_resolution(app: Any, iterations: int) -> dict[str, list[float]]:
    import random

    from bookme.core import tenancy
    from bookme.core.db import session
    from bookme.tenants.service import resolve

    with app.app_context():
        slugs = [s for (s,) in session().execute(sa.text("SELECT slug FROM public.tenants"))]
        session().rollback()
    rng = random.Random(7)
    ways = {
        "Host: a registered domain": lambda slug: (f"{slug}.example.com", None),
        f"Host: <slug>.{BASE_DOMAIN}": lambda slug: (f"{slug}.{BASE_DOMAIN}", None),
        "X-Tenant: <slug>": lambda slug: ("api.bookme.bench", slug),
    }
    timings: dict[str, list[float]] = {}
    with app.test_request_context("/"):
        for label, make in ways.items():
            samples = []
            for index in range(iterations + 200):
                host, header = make(rng.choice(slugs))
                session().execute(sa.text("SELECT 1"))  # the request's transaction is open
                started = time.perf_counter()
                ref = resolve(host, header, BASE_DOMAIN)
                tenancy.activate(ref)
                if index >= 200:  # the first ones warm up plans and prepared statements
                    samples.append((time.perf_counter() - started) * 1000)
                tenancy.activate(None)
                session().rollback()
            timings[label] = samples
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provision", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--resolve", type=int, default=3000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    print(f"database: {sa.engine.make_url(DATABASE_URL).render_as_string()}")
    recreate_database(DATABASE_URL)
    workdir = Path(tempfile.mkdtemp(prefix="bookme-bench-tenants-"))
    try:
        took, _ = flask_cli("db", "upgrade")
        print(f"public migrations on an empty database: {took:.1f} s")
        settings = Settings.from_env(
            {},
            env="development",
            database_url=DATABASE_URL,
            redis_url=REDIS_URL,
            secret_key=SECRET,
            jwt_secret_key=SECRET,
            base_domain=BASE_DOMAIN,
            log_json=False,
        )
        app = create_app(settings, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 8, "max_overflow": 4})
        import logging

        logging.getLogger("alembic").setLevel(logging.WARNING)
        from bookme.tenants import schema as tenant_schema
        from bookme.tenants.service import create_tenant

        # 1. provisioning, one at a time: claiming a spare schema, then building one
        engine = sa.create_engine(DATABASE_URL)
        quiet = lambda line: None  # noqa: E731
        print(
            f"\n1. provisioning, {args.provision} tenants each way, one at a time "
            f"(tenant branch at {tenant_schema.tenant_head()}):"
        )
        with app.app_context():
            for way in ("spare schema ready", "no spare: built"):
                samples = []
                for index in range(args.provision):
                    number = index if way.startswith("spare") else args.provision + index
                    # untimed: a spare is ready (as the periodic top-up keeps it), or none is
                    tenant_schema.top_up_spares(
                        engine, count=1 if way.startswith("spare") else 0, echo=quiet
                    )
                    if not way.startswith("spare"):
                        with engine.begin() as conn:
                            for (name,) in conn.execute(
                                sa.text("DELETE FROM public.spare_schemas RETURNING schema_name")
                            ):
                                tenant_schema.drop_schema(conn, name)
                    started = time.perf_counter()
                    create_tenant(
                        slug=f"bench-{number:05d}",
                        name=f"Bench {number}",
                        owner_id=None,
                        actor="bench",
                    )
                    samples.append((time.perf_counter() - started) * 1000)
                median = statistics.median(samples)
                print(
                    f"   {way:<20} median {median:.1f} ms, p95 {pct(samples, 0.95):.1f} ms, "
                    f"min {min(samples):.1f}, max {max(samples):.1f}  "
                    f"[target median <= 150 ms: {verdict(median, 150)}]"
                )
        provisioned = 2 * args.provision

        # 2. the rest, with a domain each
        started = time.perf_counter()
        provision_rest(app, provisioned, args.tenants)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO public.tenant_domains (tenant_id, domain)"
                    " SELECT id, slug || '.example.com' FROM public.tenants"
                )
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM public.tenants")).scalar_one()
            schemas = conn.execute(
                sa.text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            ).scalar_one()
        print(
            f"\n2. setup: {count} tenants, {schemas} tenant schemas, "
            f"{time.perf_counter() - started:.0f} s (4 threads, not a measurement)"
        )

        # 3. flask db upgrade, nothing to do
        took, output = flask_cli("db", "upgrade")
        assert f"tenant schemas: {count} total, 0 to migrate" in output, output[-2000:]
        started = time.perf_counter()
        tenant_schema.upgrade_all(engine, echo=quiet)
        inner = time.perf_counter() - started
        print(
            f"\n3. `flask db upgrade` with nothing to do over {count} tenant schemas: {took:.2f} s "
            f"(whole process; its tenant part alone {inner * 1000:.0f} ms)  "
            f"[target <= 10 s: {verdict(took, 10)}]"
        )

        # 4. flask db upgrade, one additive revision over every tenant schema
        migrations = extra_migrations(workdir)
        took, output = flask_cli("db", "upgrade", migrations=migrations)
        assert f"{count} migrated in" in output, output[-2000:]
        inner = output.split(f"tenant schemas: {count} migrated in ")[1].split("s")[0]
        with engine.connect() as conn:
            done = conn.execute(
                sa.text("SELECT count(*) FROM public.tenants WHERE schema_revision = :r"),
                {"r": EXTRA_REVISION},
            ).scalar_one()
        print(
            f"\n4. `flask db upgrade` with an additive revision over {count} tenant schemas: "
            f"{took:.1f} s (whole process; the tenant loop {inner} s, "
            f"{float(inner) / count * 1000:.1f} ms a schema); {done} at {EXTRA_REVISION}  "
            f"[target <= 60 s: {verdict(took, 60)}]"
        )
        engine.dispose()

        # 5. resolution
        timings = measure_resolution(app, args.resolve)
        print(
            f"\n5. tenant resolution added to a request ({args.resolve} each, {count} tenants "
            "and domains; query + SET LOCAL search_path):"
        )
        worst = 0.0
        for label, values in timings.items():
            med, p95 = statistics.median(values), pct(values, 0.95)
            worst = max(worst, med)
            print(
                f"   {label:<28} median {med * 1000:.0f} µs, p95 {p95 * 1000:.0f} µs, "
                f"p99 {pct(values, 0.99) * 1000:.0f} µs"
            )
        print(f"   [target <= 1 ms: {verdict(worst, 1.0)}]")
        from bookme.extensions import db

        with app.app_context():
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if args.keep:
            print(f"\nkept {DATABASE_URL}")
        else:
            drop_database(DATABASE_URL)


if __name__ == "__main__":
    main()
