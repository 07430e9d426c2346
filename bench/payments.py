"""Payments benchmark: Stripe webhook intake, and a signed success to a confirmed booking.

    .venv/bin/python bench/payments.py [--requests 4000] [--bookings 40] [--keep]

Builds a fresh database (BENCH_PAYMENTS_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_payments), uses Redis at REDIS_URL
(default redis://127.0.0.1:6379/10) on its own queue, starts localstripe and the app under
gunicorn (2 processes of 4 threads, as on the 2-core machine), then measures:

1. Webhook intake: 8 concurrent keep-alive clients post `payment_intent.succeeded` events,
   each signed with the tenant's webhook secret (signed ahead of time: signing is Stripe's
   cost, not ours). Each request resolves the tenant, checks the signature, stores the event
   once and enqueues its job after commit. Targets: at least 300 requests/s, p99 at most
   50 ms. (No worker runs during this part; the queue is emptied after it.)
2. End to end: one worker process (`python -m bookme.worker worker`). For each of
   `--bookings` public bookings of a deposit service (made over HTTP, paid at localstripe),
   the signed `payment_intent.succeeded` is posted and the clock runs until the booking is
   `confirmed` with its invoice in the database. Target: p50 at most 500 ms.

Figures print as they come; the run exits 1 if a target is missed. The database is dropped
afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import drop_database, free_port, percentile, recreate_database  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402
from tests.plugins.localstripe import (  # noqa: E402
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    pay_intent,
    signed,
    start_localstripe,
    stripe_event,
)

DATABASE_URL = os.environ.get(
    "BENCH_PAYMENTS_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_payments",
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/10")
SECRET = "bench-secret-" + "x" * 40
KEY = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
QUEUE = "bench-payments"
CLIENTS = 8
ALL_DAY = {day: [("00:00", "24:00")] for day in range(1, 8)}


def env(stripe_url: str) -> dict[str, str]:
    return {
        "PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "JWT_SECRET_KEY": SECRET,
        "BOOKME_ENV": "development",
        "BOOKME_LOG_JSON": "0",
        "BOOKME_RATELIMIT_ENABLED": "0",
        "BOOKME_ENCRYPTION_KEYS": KEY,
        "BOOKME_RQ_QUEUE": QUEUE,
        "STRIPE_API_BASE": stripe_url,
        "PYTHONPATH": str(ROOT),
    }


def settings(stripe_url: str) -> Settings:
    return Settings.from_env(env(stripe_url))


def seed(app: Any) -> dict[str, Any]:
    """Migrate, then one tenant with a deposit service, 4 staff and Stripe set up."""
    from flask_migrate import upgrade

    from bookme.core import tenancy
    from bookme.extensions import db
    from bookme.payments import service as payments
    from bookme.tenants.service import create_tenant
    from bookme.users.access import SYSTEM
    from tests.conftest import make_user
    from tests.factories import make_service, make_staff, use_tenant

    with app.app_context():
        upgrade()
        owner = make_user(full_name="Bench Owner")
        tenant = create_tenant(slug="bench-pay", name="Bench", timezone="UTC", owner_id=owner.id)
        ref = use_tenant("bench-pay")
        service = make_service(
            name="Coupe",
            duration_minutes=30,
            price="200.00",
            slot_interval_minutes=30,
            min_notice_minutes=0,
            max_advance_days=365,
        )
        service.payment = {"mode": "deposit", "deposit_percent": 30}
        db.session.commit()
        staff = [
            make_staff(services=[service], hours=ALL_DAY, display_name=f"S{n}").id for n in range(4)
        ]
        payments.update_payment_settings(
            tenant=ref,
            actor=SYSTEM,
            now=datetime.now(UTC),
            data={
                "stripe": {
                    "secret_key": SECRET_KEY,
                    "publishable_key": PUBLISHABLE_KEY,
                    "webhook_secret": WEBHOOK_SECRET,
                }
            },
        )
        result = {
            "slug": tenant.slug,
            "schema": tenant.schema_name,
            "service": service.id,
            "staff": staff,
        }
        tenancy.activate(None)
        db.session.remove()
    return result


def start(cmd: list[str], stripe_url: str, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env(stripe_url),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def intake(base: str, slug: str, total: int) -> tuple[float, list[float], dict[int, int]]:
    """8 keep-alive clients, `total` signed events; (requests/s, latencies, statuses)."""
    per_client = total // CLIENTS
    bodies = [
        [
            signed(
                stripe_event(
                    "payment_intent.succeeded",
                    {
                        "id": f"pi_bench_{c}_{i}",
                        "object": "payment_intent",
                        "status": "succeeded",
                        "metadata": {},
                    },
                )
            )
            for i in range(per_client)
        ]
        for c in range(CLIENTS)
    ]
    host = urllib.parse.urlsplit(base)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        barrier.wait()
        for body, headers in bodies[index]:
            began = time.perf_counter()
            conn.request("POST", f"/webhooks/stripe/{slug}", body=body, headers=headers)
            answer = conn.getresponse()
            answer.read()
            latencies[index].append(time.perf_counter() - began)
            with lock:
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [x for xs in latencies for x in xs]
    return len(flat) / elapsed, flat, statuses


def end_to_end(base: str, stripe_url: str, seeded: dict[str, Any], count: int) -> list[float]:
    import requests

    engine = sa.create_engine(DATABASE_URL)
    schema = seeded["schema"]
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    timings = []
    http = requests.Session()
    for index in range(count):
        staff = seeded["staff"][index % len(seeded["staff"])]
        starts_at = day + timedelta(minutes=30 * (index // len(seeded["staff"])))
        answer = http.post(
            f"{base}/api/v1/public/bookings",
            json={
                "service_id": str(seeded["service"]),
                "staff_id": str(staff),
                "starts_at": starts_at.isoformat(),
                "customer": {"full_name": "Bench", "phone": f"+2126110{index:05d}"},
            },
            headers={"X-Tenant": seeded["slug"]},
            timeout=30,
        )
        answer.raise_for_status()
        booking_id = answer.json()["id"]
        with engine.connect() as conn:
            reference = conn.execute(
                sa.text(
                    f'SELECT provider_reference FROM "{schema}".payments WHERE booking_id = :b'
                ),
                {"b": booking_id},
            ).scalar_one()
        intent = pay_intent(stripe_url, reference)
        body, headers = signed(stripe_event("payment_intent.succeeded", intent))
        began = time.perf_counter()
        posted = http.post(
            f"{base}/webhooks/stripe/{seeded['slug']}", data=body, headers=headers, timeout=30
        )
        posted.raise_for_status()
        with engine.connect() as conn:
            while True:
                done = conn.execute(
                    sa.text(
                        f"SELECT b.status = 'confirmed' AND EXISTS"
                        f' (SELECT 1 FROM "{schema}".invoices i WHERE i.booking_id = b.id)'
                        f' FROM "{schema}".bookings b WHERE b.id = :b'
                    ),
                    {"b": booking_id},
                ).scalar_one()
                conn.rollback()
                if done:
                    break
                if time.perf_counter() - began > 30:
                    raise RuntimeError(f"booking {booking_id} not confirmed within 30 s")
                time.sleep(0.002)
        timings.append(time.perf_counter() - began)
    engine.dispose()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--bookings", type=int, default=40)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from redis import Redis

    stripe_proc, stripe_url, stripe_log = start_localstripe()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    procs: list[subprocess.Popen[bytes]] = []
    ok = True
    try:
        recreate_database(DATABASE_URL)
        app = create_app(settings(stripe_url))
        seeded = seed(app)
        Redis.from_url(REDIS_URL).delete(f"rq:queue:{QUEUE}")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            stripe_url,
            log,
        )
        procs.append(server)
        wait_healthy(base, server)

        intake(base, seeded["slug"], 400)  # warm-up: connections, caches, JIT of plans
        rate, latencies, statuses = intake(base, seeded["slug"], args.requests)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(
            f"webhook intake, {CLIENTS} clients, {len(latencies)} signed events: "
            f"{rate:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, statuses {statuses}"
        )
        target = rate >= 300 and p99 <= 50 and set(statuses) == {200}
        print(f"  target ≥ 300 req/s and p99 ≤ 50 ms: {'met' if target else 'MISSED'}")
        ok &= target
        Redis.from_url(REDIS_URL).delete(f"rq:queue:{QUEUE}")

        worker = start(
            [str(ROOT / ".venv/bin/python"), "-m", "bookme.worker", "worker"], stripe_url, log
        )
        procs.append(worker)
        time.sleep(3)  # the worker builds its app and registers
        timings = end_to_end(base, stripe_url, seeded, args.bookings)
        p50e = percentile(timings, 0.5)
        print(
            f"signed payment_intent.succeeded → confirmed booking with invoice, one worker, "
            f"{len(timings)} bookings: p50 {p50e:.0f} ms, p90 {percentile(timings, 0.9):.0f} ms, "
            f"max {max(timings) * 1000:.0f} ms, mean {statistics.mean(timings) * 1000:.0f} ms"
        )
        target = p50e <= 500
        print(f"  target p50 ≤ 500 ms: {'met' if target else 'MISSED'}")
        ok &= target
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        stripe_proc.terminate()
        stripe_proc.wait(timeout=10)
        stripe_log.close()
        if not ok:
            log.seek(0)
            sys.stderr.write(log.read().decode()[-3000:])
        log.close()
        Redis.from_url(REDIS_URL).delete(f"rq:queue:{QUEUE}")
        if not args.keep:
            drop_database(DATABASE_URL)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
