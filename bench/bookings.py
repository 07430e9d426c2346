"""Booking benchmark: a tenant with 50 staff and 1,000,000 bookings; creation and conflict storms.

    .venv/bin/python bench/bookings.py [--bookings 1000000] [--per-client 600] [--rounds 25]

Seeds with the availability benchmark's helpers (`bench/availability.py`: same tenant, staff,
schedules and bookings) into its own database (BENCH_BOOKINGS_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_bookings), then measures:

1. the raw-SQL ceiling: 8 psycopg connections, each inserting bookings on its own free slots
   with the same `INSERT ... ON CONFLICT DO NOTHING` and a commit per booking (prepared);
2. booking creation over HTTP: 8 concurrent clients (keep-alive sessions), each posting
   `POST /api/v1/bookings` on its own free slots (member token, existing customer);
3. a conflict storm: 32 clients released together on the same 10 slots (5 pairs of
   overlapping times of 5 staff members), round after round; then a check that no two
   active bookings of one staff member overlap anywhere in the tenant.

The free slots come from the availability SQL itself, so every request in (1) and (2) is
expected to succeed. Figures print as they come; the run fails (exit 1) if a target is missed.
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
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ["BENCH_DATABASE_URL"] = os.environ.get(
    "BENCH_BOOKINGS_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_bookings",
)
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import availability as shared  # noqa: E402  (bench/availability.py: the seeding helpers)
import psycopg  # noqa: E402
import requests  # noqa: E402
from common import free_port, percentile, recreate_database, stop_server  # noqa: E402  (bench/common.py)

CLIENTS = 8
STORM_CLIENTS = 32
STORM_SLOTS = 10


def free_slots(
    slug: str, service_id: uuid.UUID, staff: list[uuid.UUID], weeks: int
) -> dict[uuid.UUID, list[datetime]]:
    """Bookable starts per staff member, from the availability SQL, over the next `weeks`."""
    from bookme import create_app
    from bookme.bookings.availability import list_slots
    from bookme.core import tenancy
    from bookme.tenants.service import tenant_ref_by_slug

    app = create_app(shared.settings())
    found: dict[uuid.UUID, list[datetime]] = {s: [] for s in staff}
    with app.app_context():
        tenant = tenant_ref_by_slug(slug)
        tenancy.activate(tenant)
        first = shared.NOW.date() + timedelta(days=2)
        for member in staff:
            for week in range(0, weeks, 8):
                start = first + timedelta(days=7 * week)
                end = start + timedelta(days=7 * min(8, weeks - week) - 1)
                body = list_slots(
                    tenant=tenant, service_id=service_id, date_from=start, date_to=end,
                    staff_id=member, now=shared.NOW,
                )  # fmt: skip
                found[member].extend(_instant(slot["starts_at"]) for slot in body["slots"])
        from bookme.extensions import db

        db.session.remove()
        db.engine.dispose()
    return found


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def disjoint(starts: list[datetime], footprint: timedelta) -> list[datetime]:
    """Starts at least `footprint` apart: bookings on them never overlap each other."""
    picked: list[datetime] = []
    for start in sorted(starts):
        if not picked or start >= picked[-1] + footprint:
            picked.append(start)
    return picked


def overlapping_pairs(starts: list[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """(s, s + step) pairs both listed, not sharing a time with another pair."""
    listed = set(starts)
    pairs, used = [], set()
    for start in sorted(starts):
        if start + step in listed and start not in used and start + step not in used:
            pairs.append((start, start + step))
            used.update({start, start + step, start + 2 * step, start - step})
    return pairs


# --- 1. the raw-SQL ceiling -------------------------------------------------------------------

INSERT = """
INSERT INTO bookings (id, service_id, staff_id, customer_id, starts_at, ends_at, blocked,
                      status, source, price, currency, manage_token_hash,
                      manage_token_encrypted, created_at, updated_at)
VALUES (%(id)s, %(service)s, %(staff)s, %(customer)s, %(at)s, %(at)s + interval '30 minutes',
        tstzrange(%(at)s, %(at)s + interval '40 minutes'), 'confirmed', 'api', 80, 'MAD',
        %(hash)s, 'bench', %(now)s, %(now)s)
ON CONFLICT DO NOTHING
RETURNING id
"""


def raw_sql(
    schema: str, ids: dict[str, uuid.UUID], work: list[list[tuple[uuid.UUID, datetime]]]
) -> tuple[float, list[float], int]:
    url = shared.DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    samples: list[list[float]] = [[] for _ in work]
    inserted = [0] * len(work)
    barrier = threading.Barrier(len(work) + 1)

    def client(index: int) -> None:
        with psycopg.connect(url) as conn:
            conn.execute(f'SET search_path TO "{schema}", public')
            conn.commit()
            barrier.wait()
            for staff_id, at in work[index]:
                started = time.perf_counter()
                row = conn.execute(
                    INSERT,
                    {
                        "id": uuid.uuid4(), "service": ids["one"], "staff": staff_id,
                        "customer": ids["customer"], "at": at, "hash": os.urandom(32),
                        "now": shared.NOW,
                    },
                    prepare=True,
                ).fetchone()  # fmt: skip
                conn.commit()
                samples[index].append(time.perf_counter() - started)
                inserted[index] += row is not None

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return elapsed, [s for per in samples for s in per], sum(inserted)


# --- 2 and 3. over HTTP ---------------------------------------------------------------------------


def start_server(port: int, workers: int, threads: int, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": shared.DATABASE_URL,
        "REDIS_URL": shared.REDIS_URL,
        "SECRET_KEY": shared.SECRET,
        "JWT_SECRET_KEY": shared.SECRET,
        "BOOKME_ENV": "development",
        "BOOKME_LOG_JSON": "0",
        "BOOKME_RATELIMIT_ENABLED": "0",
        "BOOKME_ENCRYPTION_KEYS": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            # The production settings (Procfile's `web`), with this run's address and sizes.
            "--config",
            "python:bookme.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    return process
            except requests.RequestException:
                time.sleep(0.3)
        raise SystemExit("the server did not start within 90 s")
    except BaseException:
        stop_server(process)
        raise


def http_clients(
    url: str, headers: dict[str, str], bodies: list[list[dict[str, Any]]]
) -> tuple[float, list[float], Counter[int]]:
    """Each list of bodies on its own thread and keep-alive connection, all released together.

    Plain http.client: the load generator shares the machine's two cores with the server and
    PostgreSQL, so it should spend as little CPU per request as it can.
    """
    parts = urllib.parse.urlsplit(url)
    samples: list[list[float]] = [[] for _ in bodies]
    statuses: list[Counter[int]] = [Counter() for _ in bodies]
    barrier = threading.Barrier(len(bodies) + 1)
    sent = {**headers, "Content-Type": "application/json"}

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        payloads = [json.dumps(body).encode() for body in bodies[index]]
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        barrier.wait()
        for payload in payloads:
            started = time.perf_counter()
            conn.request("POST", parts.path, body=payload, headers=sent)
            response = conn.getresponse()
            response.read()
            samples[index].append(time.perf_counter() - started)
            statuses[index][response.status] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total: Counter[int] = Counter()
    for counter in statuses:
        total.update(counter)
    return elapsed, [s for per in samples for s in per], total


class CpuMeter:
    """CPU seconds spent by the server's processes and the database's backends for this run."""

    def __init__(self, server: subprocess.Popen[bytes]) -> None:
        self.server = server
        self.start = self._sample()

    def _sample(self) -> tuple[float, float]:
        import psutil

        root = psutil.Process(self.server.pid)
        app = sum(_cpu(p) for p in [root, *root.children(recursive=True)])
        url = shared.DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            ]
        db = sum(_cpu(psutil.Process(pid)) for pid in pids if psutil.pid_exists(pid))
        return app, db

    def since(self) -> tuple[float, float]:
        app, db = self._sample()
        return app - self.start[0], db - self.start[1]


def _cpu(process: Any) -> float:
    try:
        times = process.cpu_times()
    except Exception:
        return 0.0
    return float(times.user + times.system)


def overlaps(schema: str) -> int:
    url = shared.DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"""
            SELECT count(*) FROM "{schema}".bookings a
              JOIN "{schema}".bookings b
                ON a.staff_id = b.staff_id AND a.id < b.id AND a.blocked && b.blocked
             WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')
            """
        ).fetchone()
    assert row is not None
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--per-client", type=int, default=600, help="HTTP bookings per client")
    parser.add_argument("--sql-per-client", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=25, help="storm rounds of 32 requests")
    # The defaults of bookme/gunicorn_conf.py (WEB_CONCURRENCY and GUNICORN_THREADS apply).
    from bookme import gunicorn_conf

    parser.add_argument("--workers", type=int, default=gunicorn_conf.workers)
    parser.add_argument("--threads", type=int, default=gunicorn_conf.threads)
    parser.add_argument("--weeks", type=int, default=24)
    args = parser.parse_args()

    recreate_database(shared.DATABASE_URL)
    slug, schema, token = shared.provision()
    ids = shared.seed(schema, args.bookings)
    url = shared.DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(f'SET search_path TO "{schema}", public')
        staff = [r[0] for r in conn.execute("SELECT id FROM staff ORDER BY display_name")]

    started = time.perf_counter()
    slots = free_slots(slug, ids["one"], staff, args.weeks)
    print(
        f"free slots from the availability SQL: {sum(map(len, slots.values())):,} over "
        f"{args.weeks} weeks in {time.perf_counter() - started:.1f} s"
    )
    step = timedelta(minutes=15)
    rng = random.Random(11)
    # Storm slots first: overlapping pairs, kept away from the distinct-slot pools.
    storm_rounds: list[list[tuple[uuid.UUID, datetime]]] = []
    reserved: dict[uuid.UUID, set[datetime]] = {s: set() for s in staff}
    pair_pool = {s: overlapping_pairs(slots[s], step) for s in staff}
    for _ in range(args.rounds):
        members = rng.sample([s for s in staff if pair_pool[s]], STORM_SLOTS // 2)
        chosen = []
        for member in members:
            a, b = pair_pool[member].pop(rng.randrange(len(pair_pool[member])))
            chosen += [(member, a), (member, b)]
            reserved[member].update({a, b})
        storm_rounds.append(chosen)

    def clear_of_storm(member: uuid.UUID, at: datetime) -> bool:
        return all(abs(at - s) >= 3 * step for s in reserved[member])

    pool = [
        (member, at)
        for member in staff
        for at in disjoint([t for t in slots[member] if clear_of_storm(member, t)], 3 * step)
    ]
    rng.shuffle(pool)
    need = CLIENTS * (args.per_client + args.sql_per_client)
    if len(pool) < need:
        raise SystemExit(f"only {len(pool)} disjoint free slots, {need} needed: raise --weeks")
    sql_work = [
        pool[i * args.sql_per_client : (i + 1) * args.sql_per_client] for i in range(CLIENTS)
    ]
    http_pool = pool[CLIENTS * args.sql_per_client :]
    http_work = [http_pool[i * args.per_client : (i + 1) * args.per_client] for i in range(CLIENTS)]

    failures = []
    print(
        f"\n1. raw-SQL ceiling: {CLIENTS} connections, INSERT ... ON CONFLICT DO NOTHING + COMMIT"
    )
    elapsed, samples, inserted = raw_sql(schema, ids, sql_work)
    sql_rate = inserted / elapsed
    print(
        f"   {inserted:,} bookings in {elapsed:.2f} s = {sql_rate:,.0f} bookings/s; "
        f"p50 {percentile(samples, 0.5):.2f} ms, p99 {percentile(samples, 0.99):.2f} ms"
    )

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-bookings-", suffix=".log", delete=False)  # noqa: SIM115
    print(f"\n(server log: {log.name})")
    server = start_server(port, args.workers, args.threads, log)
    try:
        endpoint = f"http://127.0.0.1:{port}/api/v1/bookings"
        headers = {"Authorization": f"Bearer {token}", "X-Tenant": slug}

        def body(member: uuid.UUID, at: datetime) -> dict[str, Any]:
            return {
                "service_id": str(ids["one"]), "staff_id": str(member),
                "starts_at": at.isoformat(), "customer_id": str(ids["customer"]),
            }  # fmt: skip

        warm = [[body(m, t) for m, t in http_work[i][:10]] for i in range(CLIENTS)]
        http_clients(endpoint, headers, warm)
        work = [[body(m, t) for m, t in http_work[i][10:]] for i in range(CLIENTS)]
        print(
            f"\n2. booking creation over HTTP: {CLIENTS} clients on distinct slots "
            f"(gunicorn gthread, {args.workers} workers x {args.threads} threads)"
        )
        meter = CpuMeter(server)
        own = time.process_time()
        elapsed, samples, statuses = http_clients(endpoint, headers, work)
        app_cpu, db_cpu = meter.since()
        client_cpu = time.process_time() - own
        created = statuses.get(201, 0)
        rate = created / elapsed
        print(
            f"   {created:,} bookings in {elapsed:.2f} s = {rate:,.0f} bookings/s; "
            f"p50 {statistics.median(samples) * 1000:.2f} ms, "
            f"p99 {percentile(samples, 0.99):.2f} ms; "
            f"statuses {dict(statuses)}"
        )
        print(f"   = 1/{sql_rate / rate:.1f} of the raw-SQL rate")
        print(
            f"   CPU per booking: {app_cpu / created * 1000:.2f} ms in the app server, "
            f"{db_cpu / created * 1000:.2f} ms in PostgreSQL, {client_cpu / created * 1000:.2f} ms "
            "in the load generator (2 cores = 2,000 ms per second); "
            f"1-minute load average {os.getloadavg()[0]:.1f}"
        )
        if set(statuses) != {201}:
            failures.append(f"distinct-slot creation answered {dict(statuses)}")
        if rate < 400:
            failures.append(f"creation rate {rate:.0f}/s < 400/s")
        if rate < sql_rate / 10:
            failures.append(f"creation rate {rate:.0f}/s < 1/10 of raw SQL ({sql_rate:.0f}/s)")

        print(
            f"\n3. conflict storm: {STORM_CLIENTS} clients on the same {STORM_SLOTS} slots "
            f"(5 pairs of overlapping times), {args.rounds} rounds"
        )
        storm_samples: list[float] = []
        storm_statuses: Counter[int] = Counter()
        storm_elapsed = 0.0
        meter = CpuMeter(server)
        for chosen in storm_rounds:
            bodies = [[body(*chosen[i % STORM_SLOTS])] for i in range(STORM_CLIENTS)]
            elapsed, samples, statuses = http_clients(endpoint, headers, bodies)
            storm_elapsed += elapsed
            storm_samples += samples
            storm_statuses.update(statuses)
        app_cpu, db_cpu = meter.since()
        errors_5xx = sum(n for code, n in storm_statuses.items() if code >= 500)
        p99 = percentile(storm_samples, 0.99)
        print(
            f"   {len(storm_samples):,} requests: statuses {dict(storm_statuses)}; "
            f"p50 {statistics.median(storm_samples) * 1000:.2f} ms, p99 {p99:.2f} ms, "
            f"max {max(storm_samples) * 1000:.2f} ms"
        )
        print(
            f"   CPU per request: {app_cpu / len(storm_samples) * 1000:.2f} ms in the app server, "
            f"{db_cpu / len(storm_samples) * 1000:.2f} ms in PostgreSQL; "
            f"1-minute load average {os.getloadavg()[0]:.1f}"
        )
        expected = args.rounds * STORM_SLOTS // 2
        if storm_statuses.get(201, 0) != expected:
            failures.append(f"storm created {storm_statuses.get(201, 0)}, expected {expected}")
        if errors_5xx:
            failures.append(f"{errors_5xx} 5xx answers in the storm")
        if p99 > 250:
            failures.append(f"storm p99 {p99:.0f} ms > 250 ms")
    finally:
        stop_server(server)
        log.close()

    found = overlaps(schema)
    print(f"\noverlapping active bookings in the tenant afterwards: {found}")
    if found:
        failures.append(f"{found} overlapping active bookings")
    if failures:
        print("\nMISSED: " + "; ".join(failures))
        raise SystemExit(1)
    print("\nall targets met")


if __name__ == "__main__":
    main()
