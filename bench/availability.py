"""Availability benchmark: a tenant with 50 staff and 1,000,000 bookings, over HTTP and raw SQL.

    .venv/bin/python bench/availability.py [--bookings 1000000] [--requests 2000]

Builds a fresh database (BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_avail), seeds it with SQL
`generate_series` inserts (bookings spread over past and future years, a third of them not
blocking), starts the app under gunicorn on a free port, and measures sequential requests on
one keep-alive connection:

- 1 staff x 7 days      (GET /api/v1/availability?staff_id=..., member token)
- any of 20 staff x 7 days (a service 20 of the 50 staff perform)
- the same two on GET /api/v1/public/availability (no token)
- the raw-SQL ceiling: the same query through psycopg directly, prepared, same parameters.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import free_port, recreate_database, stop_server  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402
from bookme.core import sql  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_avail"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
SECRET = "bench-secret-" + "x" * 40
ZONE = "Africa/Casablanca"
STAFF = 50
ANY_STAFF = 20
# The clock of the run (the server uses the real one too): bookings start about 4.8 years
# before today and reach about 2 years ahead (2,500 days at 1,000,000 bookings).
NOW = datetime.now(UTC)
PAST_DAYS = 1750


def settings() -> Settings:
    return Settings(
        env="development",
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        secret_key=SECRET,
        jwt_secret_key=SECRET,
        log_json=False,
        ratelimit_enabled=False,
        encryption_keys=("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",),
    )


def provision() -> tuple[str, str, str]:
    """Migrate, create the tenant and its owner; returns (slug, schema, owner access token)."""
    app = create_app(settings())
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        from bookme.core.db import session
        from bookme.tenants.service import create_tenant
        from bookme.users.models import User
        from bookme.users.passwords import hash_password
        from bookme.users.tokens import issue_tokens

        owner = User(
            email="owner@bench.example",
            full_name="Bench Owner",
            password_hash=hash_password("bench password 123"),
            email_verified_at=NOW,
        )
        session().add(owner)
        session().flush()
        tenant = create_tenant(
            slug="bench-salon", name="Bench Salon", timezone=ZONE, owner_id=owner.id
        )
        session().commit()
        token = issue_tokens(owner)["access_token"]
        session().commit()
        from bookme.extensions import db

        db.engine.dispose()
        return tenant.slug, tenant.schema_name, token


SEED = """
INSERT INTO services (id, name, duration_minutes, price, currency, buffer_before_minutes,
                      buffer_after_minutes, slot_interval_minutes, min_notice_minutes,
                      max_advance_days)
VALUES (%(one)s, 'Coupe', 30, 80, 'MAD', 0, 10, 15, 60, 730),
       (%(any)s, 'Brushing', 45, 120, 'MAD', 5, 5, 15, 60, 730);

INSERT INTO staff (id, display_name)
SELECT gen_random_uuid(), 'Staff ' || lpad(n::text, 2, '0') FROM generate_series(1, %(staff)s) n;

INSERT INTO staff_services (staff_id, service_id)
SELECT id, %(one)s FROM staff
UNION ALL
SELECT id, %(any)s FROM staff WHERE display_name <= 'Staff ' || lpad(%(any_staff)s::text, 2, '0');

-- Split shifts Monday-Saturday, Sunday off; a few overrides and time off.
INSERT INTO working_hours (staff_id, weekday, start_minute, end_minute)
SELECT s.id, wd, iv.a, iv.b
FROM staff s, generate_series(1, 6) wd, (VALUES (540, 780), (840, 1140)) iv (a, b);

INSERT INTO date_overrides (staff_id, day)
SELECT s.id, %(today)s::date + d FROM staff s, generate_series(0, 365, 9) d;
INSERT INTO date_override_intervals (staff_id, day, start_minute, end_minute)
SELECT staff_id, day, 600, 960 FROM date_overrides WHERE extract(day FROM day)::int %% 2 = 0;

INSERT INTO time_off (staff_id, starts_at, ends_at)
SELECT s.id, %(now)s + d * interval '5 days' + interval '2 hours',
       %(now)s + d * interval '5 days' + interval '5 hours'
FROM staff s, generate_series(0, 73) d;
INSERT INTO closures (starts_at, ends_at)
SELECT %(now)s + d * interval '30 days', %(now)s + d * interval '30 days' + interval '1 day'
FROM generate_series(1, 12) d;

INSERT INTO customers (id, full_name) VALUES (%(customer)s, 'Bench Customer');
"""

# Each staff member gets `per_day` 30-minute bookings a day at staggered times (never
# overlapping), on consecutive days from PAST_DAYS ago; about a third are cancelled, completed or
# no-shows (they don't block), some pending ones hold an expired payment.
BOOKINGS = """
INSERT INTO bookings (service_id, staff_id, customer_id, starts_at, ends_at, blocked, status,
                      source, price, currency, cancelled_at, payment_due_at,
                      manage_token_hash, manage_token_encrypted)
SELECT %(one)s, s.id, %(customer)s, t.at, t.at + interval '30 minutes',
       tstzrange(t.at, t.at + interval '40 minutes'),
       st.status, 'admin', 80, 'MAD',
       CASE WHEN st.status = 'cancelled' THEN t.at END,
       CASE WHEN st.status = 'pending' AND k %% 2 = 0 THEN t.at - interval '2 days' END,
       sha256(uuid_send(gen_random_uuid())), 'bench'
FROM (SELECT id, row_number() OVER (ORDER BY display_name) AS n FROM staff) s
CROSS JOIN generate_series(0, %(days)s - 1) AS d
CROSS JOIN generate_series(0, %(per_day)s - 1) AS k
CROSS JOIN LATERAL (
    SELECT ((%(first_day)s::date + d) + make_interval(mins => 540 + k * 75 + (s.n::int %% 3) * 15))
           AT TIME ZONE %(zone)s AS at
) t
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN (d + k + s.n) %% 3 <> 0 THEN
            CASE WHEN %(first_day)s::date + d < %(today)s::date
                 THEN 'completed' ELSE 'confirmed' END
        WHEN (d + k) %% 2 = 0 THEN 'cancelled'
        WHEN %(first_day)s::date + d < %(today)s::date THEN 'no_show'
        ELSE 'pending'
    END AS status
) st
"""


def seed(schema: str, total: int) -> dict[str, uuid.UUID]:
    ids = {"one": uuid.uuid4(), "any": uuid.uuid4(), "customer": uuid.uuid4()}
    per_day = 8
    days = max(1, total // (STAFF * per_day))
    url = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        values = {**ids, "staff": STAFF, "any_staff": ANY_STAFF, "today": NOW.date(), "now": NOW}
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(statement, values)
        started = time.perf_counter()
        conn.execute(
            BOOKINGS,
            {
                **ids,
                "days": days,
                "per_day": per_day,
                "first_day": NOW.date() - timedelta(days=PAST_DAYS),
                "zone": ZONE,
                "today": NOW.date(),
            },
        )
        count = conn.execute("SELECT count(*) FROM bookings").fetchone()[0]
        conn.commit()
        print(
            f"seeded {count:,} bookings over {days} days in {time.perf_counter() - started:.1f} s"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (
            "bookings",
            "staff",
            "staff_services",
            "working_hours",
            "date_overrides",
            "date_override_intervals",
            "time_off",
            "closures",
            "services",
        ):
            conn.execute(f'VACUUM ANALYZE "{schema}".{table}')
    return ids


def existing() -> tuple[str, str, str, dict[str, uuid.UUID]]:
    """The tenant, a fresh owner token and the service ids of a database seeded before."""
    app = create_app(settings())
    with app.app_context():
        from bookme.core.db import session
        from bookme.users.models import User
        from bookme.users.tokens import issue_tokens

        slug, schema = (
            session()
            .execute(
                sa.text("SELECT slug, schema_name FROM public.tenants WHERE slug = 'bench-salon'")
            )
            .one()
        )
        owner = session().scalars(sa.select(User).where(User.email == "owner@bench.example")).one()
        token = issue_tokens(owner)["access_token"]
        session().commit()
        rows = session().execute(sa.text(f'SELECT name, id FROM "{schema}".services')).all()
        names = {name: service_id for name, service_id in rows}
        from bookme.extensions import db

        db.engine.dispose()
    return slug, schema, token, {"one": names["Coupe"], "any": names["Brushing"]}


def start_server(port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "JWT_SECRET_KEY": SECRET,
        "BOOKME_ENV": "development",
        "BOOKME_LOG_JSON": "0",
        "BOOKME_RATELIMIT_ENABLED": "0",
        "BOOKME_ENCRYPTION_KEYS": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "2",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit("the server did not start")


def weeks(count: int) -> list[date]:
    """Week starts over the next year, from the bench clock's local date."""
    first = NOW.date() + timedelta(days=1)
    return [first + timedelta(days=7 * (i % 52)) for i in range(count)]


def summary(label: str, samples: list[float], note: str = "") -> None:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    # p10 beside them: on a shared machine it shows what a request costs when not preempted.
    p10 = ms[int(len(ms) * 0.10)]
    print(
        f"  {label:<36} n={len(ms):>5}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        f"  (p10 {p10:5.2f} ms)  {note}"
    )


def http_run(
    conn: http.client.HTTPConnection,
    path: str,
    headers: dict[str, str],
    cases: list[dict[str, str]],
) -> tuple[list[float], int]:
    """Sequential GETs on one keep-alive connection. Plain http.client: the client shares the
    machine's two cores with the server and PostgreSQL, and a heavier one (requests spends
    about 0.5 ms a call) would be counted as the server's latency."""
    samples, slots = [], 0
    for params in cases:
        target = f"{path}?{urllib.parse.urlencode(params)}"
        started = time.perf_counter()
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        samples.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}: {payload[:300]!r}")
        slots += len(json.loads(payload)["slots"])
    return samples, slots


def sql_run(schema: str, cases: list[dict[str, object]], prepare: bool) -> list[float]:
    """The availability query alone through psycopg: one round trip per call."""
    text = sa.text(sql.load("availability"))
    statement = str(text.compile(dialect=postgresql_psycopg.dialect()))
    url = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    samples = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        for params in cases:
            started = time.perf_counter()
            conn.execute(statement, params, prepare=prepare).fetchall()
            samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed-only", action="store_true", help="build the data and stop")
    parser.add_argument("--reuse", action="store_true", help="measure the data of a past run")
    args = parser.parse_args()

    if args.reuse:
        slug, schema, token, ids = existing()
    else:
        recreate_database(DATABASE_URL)
        slug, schema, token = provision()
        ids = seed(schema, args.bookings)
    if args.seed_only:
        return
    url = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        staff = [r[0] for r in conn.execute("SELECT id FROM staff ORDER BY display_name")]

    rng = random.Random(7)
    n = args.requests
    one_cases = [
        {"service_id": str(ids["one"]), "from": w.isoformat(),
         "to": (w + timedelta(days=6)).isoformat(), "staff_id": str(rng.choice(staff))}
        for w in weeks(n)
    ]  # fmt: skip
    any_cases = [
        {"service_id": str(ids["any"]), "from": w.isoformat(),
         "to": (w + timedelta(days=6)).isoformat()}
        for w in weeks(n)
    ]  # fmt: skip

    def sql_cases(cases: list[dict[str, str]]) -> list[dict[str, object]]:
        return [
            {"service_id": uuid.UUID(c["service_id"]), "tz": ZONE,
             "date_from": date.fromisoformat(c["from"]), "date_to": date.fromisoformat(c["to"]),
             "staff_ids": [uuid.UUID(c["staff_id"])] if "staff_id" in c else None,
             "now": NOW, "at": None, "exclude_booking_id": None}
            for c in cases
        ]  # fmt: skip

    print(
        f"availability over HTTP (gunicorn gthread, 1 worker), {n} sequential requests each;"
        f" load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    port = free_port()
    with tempfile.NamedTemporaryFile(
        prefix="bench-availability-", suffix=".log", delete=False
    ) as log:
        print(f"  (server log: {log.name})")
        server = start_server(port, log)
        try:
            base = "/api/v1"
            member = {"Authorization": f"Bearer {token}", "X-Tenant": slug}
            public = {"X-Tenant": slug}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            http_run(conn, base + "/availability", member, one_cases[:100])  # warm up
            http_run(conn, base + "/availability", member, any_cases[:100])
            for label, path, headers, cases in (
                ("1 staff x 7 days (member)", "/availability", member, one_cases),
                ("any of 20 staff x 7 days (member)", "/availability", member, any_cases),
                ("1 staff x 7 days (public)", "/public/availability", public, one_cases),
                ("any of 20 staff x 7 days (public)", "/public/availability", public, any_cases),
            ):
                samples, slots = http_run(conn, base + path, headers, cases)
                summary(label, samples, f"({slots / len(cases):.0f} slots/response)")
            conn.close()
        finally:
            stop_server(server)

    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    print("raw SQL: the same query and parameters through psycopg, one round trip each")
    for prepare, how in ((True, "prepared"), (False, "planned each time")):
        sql_run(schema, sql_cases(one_cases[:100]), prepare)
        summary(f"1 staff x 7 days ({how})", sql_run(schema, sql_cases(one_cases), prepare))
        summary(f"any of 20 staff x 7 days ({how})", sql_run(schema, sql_cases(any_cases), prepare))


if __name__ == "__main__":
    main()
