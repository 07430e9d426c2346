"""Notification benchmark: 10,000 reminders due at once over 100 tenants; an idle dispatcher
over 1,000 tenant schemas.

    .venv/bin/python bench/notifications.py [--tenants 100] [--per-tenant 100]
        [--idle-tenants 1000] [--latency 0.1] [--dispatch-every 5] [--keep]

Builds a fresh database (BENCH_NOTIFICATIONS_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_notifications) and uses Redis at
REDIS_URL (default redis://127.0.0.1:6379/8), then:

1. Send: `--tenants` tenants, each with `--per-tenant` customers and confirmed bookings and
   one reminder per booking in the outbox (written straight in SQL: the sending pipeline is
   what is measured). Two real worker processes (`python -m bookme.worker worker`, RQ
   SimpleWorkers) and the scheduler (`python -m bookme.worker scheduler`) run against a
   local fake Twilio (tests/plugins/fake_twilio.py) answering every call after `--latency`
   seconds, through the real Twilio SDK. Every reminder is then made due at the same
   instant T. Reported: how many were sent, how many the provider received, duplicates, and
   the time from T until the last one was sent (target: at most 60 s).
2. Idle dispatcher: tenants are added up to `--idle-tenants` (1,000), each with future
   reminders in the due index and nothing due; the dispatcher's tick (`delivery.dispatch`,
   one transaction) is timed in-process. Target: at most 5 ms a tick.

The run exits 1 if a target is missed. The database is dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import drop_database, recreate_database  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402
from tests.plugins.fake_twilio import start_fake_twilio  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_NOTIFICATIONS_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_notifications",
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
SECRET = "bench-secret-" + "x" * 40
KEY = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="
QUEUE = "bench-notifications"
PUBLIC_BASE_URL = "https://bookme.ma"


def settings(twilio: Any) -> Settings:
    return Settings(
        env="testing",
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        secret_key=SECRET,
        jwt_secret_key=SECRET,
        encryption_keys=(KEY,),
        public_base_url=PUBLIC_BASE_URL,
        log_json=False,
        rq_queue=QUEUE,
        ratelimit_enabled=False,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_sms_from="+212522000000",
        twilio_api_base=twilio.url,
    )


def process_env(twilio: Any, dispatch_every: int) -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "BOOKME_ENV": "testing",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "JWT_SECRET_KEY": SECRET,
        "BOOKME_ENCRYPTION_KEYS": KEY,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "BOOKME_RQ_QUEUE": QUEUE,
        "BOOKME_LOG_JSON": "0",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_SMS_FROM": "+212522000000",
        "TWILIO_API_BASE": twilio.url,
        "BOOKME_NOTIFY_DISPATCH_SECONDS": str(dispatch_every),
    }


# --- seeding ------------------------------------------------------------------------------------


def create_tenants(
    app: Any, count: int, first: int, threads: int = 4
) -> list[tuple[uuid.UUID, str, str]]:
    """`count` tenants (schema and tables each), with one service and one staff member."""
    from bookme.core import tenancy
    from bookme.core.db import session
    from bookme.tenants.service import create_tenant, tenant_ref_by_slug

    made: list[tuple[uuid.UUID, str, str]] = []
    lock = threading.Lock()
    numbers = iter(range(first, first + count))

    def work() -> None:
        with app.app_context():
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                slug = f"salon-{number:04d}"
                tenant = create_tenant(slug=slug, name=f"Salon {number:04d}")
                with tenancy.using(tenant_ref_by_slug(slug)):
                    session().execute(sa.text(
                        "INSERT INTO services (name, duration_minutes, price, currency) "
                        "VALUES ('Coupe brushing', 45, 150, 'MAD');"
                        "INSERT INTO staff (display_name) VALUES ('Nadia');"
                    ))  # fmt: skip
                    session().commit()
                with lock:
                    made.append((tenant.id, slug, tenant.schema_name))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sorted(made, key=lambda t: t[1])


SEED = """
INSERT INTO customers (id, full_name, phone, locale)
SELECT gen_random_uuid(), 'Client ' || g, :prefix || lpad(g::text, 6, '0'), 'fr'
  FROM generate_series(1, :n) g;

INSERT INTO bookings (id, service_id, staff_id, customer_id, starts_at, ends_at, blocked, status,
                      source, price, currency, manage_token_hash, manage_token_encrypted)
SELECT gen_random_uuid(), (SELECT id FROM services), (SELECT id FROM staff), c.id,
       :first + (row_number() OVER (ORDER BY c.id)) * interval '1 hour',
       :first + (row_number() OVER (ORDER BY c.id)) * interval '1 hour' + interval '45 minutes',
       tstzrange(:first + (row_number() OVER (ORDER BY c.id)) * interval '1 hour',
                 :first + (row_number() OVER (ORDER BY c.id)) * interval '1 hour'
                        + interval '45 minutes'),
       'confirmed', 'api', 150, 'MAD',
       decode(md5(c.id::text || :salt), 'hex') || decode(md5(:salt || c.id::text), 'hex'),
       :token
  FROM customers c;

INSERT INTO notifications (booking_id, customer_id, event, channel, locale, "to", status,
                           scheduled_for, reminder_offset_minutes, appointment_at)
SELECT b.id, b.customer_id, 'booking_reminder', 'sms', 'fr', c.phone, 'scheduled',
       :later, 1440, b.starts_at
  FROM bookings b JOIN customers c ON c.id = b.customer_id;

INSERT INTO public.notification_due (tenant_id, notification_id, kind, due_at)
SELECT :tenant_id, n.id, 'send', :later FROM notifications n;
"""


def seed_reminders(app: Any, tenants: list[tuple[uuid.UUID, str, str]], per_tenant: int) -> None:
    from bookme.core import crypto
    from bookme.extensions import db

    with app.app_context():
        token = crypto.encrypt("x" * 32)  # every link alike: the pipeline is what is measured
        first = datetime.now(UTC) + timedelta(days=3)
        later = datetime.now(UTC) + timedelta(days=1)
        for index, (tenant_id, _, schema) in enumerate(tenants):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
                for statement in SEED.strip().split(";\n\n"):
                    conn.execute(
                        sa.text(statement),
                        {"prefix": f"+2126{index:03d}", "n": per_tenant, "first": first,
                         "salt": schema, "token": token, "later": later, "tenant_id": tenant_id},
                    )  # fmt: skip


def make_all_due(app: Any, tenants: list[tuple[uuid.UUID, str, str]], at: datetime) -> None:
    from bookme.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        for _, _, schema in tenants:
            conn.execute(
                sa.text(f'UPDATE "{schema}".notifications SET scheduled_for = :at'), {"at": at}
            )
        conn.execute(sa.text("UPDATE public.notification_due SET due_at = :at"), {"at": at})


def outcome(
    app: Any, tenants: list[tuple[uuid.UUID, str, str]]
) -> tuple[Counter[str], datetime | None]:
    from bookme.extensions import db

    union = " UNION ALL ".join(
        f'SELECT status, sent_at FROM "{schema}".notifications' for _, _, schema in tenants
    )
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT status, count(*), max(sent_at) FROM ({union}) n GROUP BY status")
        ).all()
    return Counter({r[0]: r[1] for r in rows}), max((r[2] for r in rows if r[2]), default=None)


# --- the phases -----------------------------------------------------------------------------------


def phase_send(app: Any, twilio: Any, args: argparse.Namespace) -> tuple[list[Any], bool]:
    total = args.tenants * args.per_tenant
    print(f"\n1. {total:,} reminders due at the same instant over {args.tenants} tenants")
    started = time.monotonic()
    tenants = create_tenants(app, args.tenants, first=1)
    seed_reminders(app, tenants, args.per_tenant)
    print(f"   seeded in {time.monotonic() - started:.1f} s")
    twilio.latency = args.latency
    env = process_env(twilio, args.dispatch_every)
    procs = []
    logs = []
    for role in ("worker", "worker", "scheduler"):
        log = open(f"/tmp/bench-notifications-{role}-{len(procs)}.log", "wb")  # noqa: SIM115
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "bookme.worker", role], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        ))  # fmt: skip
    try:
        time.sleep(8)  # the processes import, connect and register
        due_at = datetime.now(UTC)
        make_all_due(app, tenants, due_at)
        t0 = time.monotonic()
        last_count, stalled_since = -1, time.monotonic()
        while True:
            count = len(twilio.messages)
            if count >= total:
                break
            if count != last_count:
                last_count, stalled_since = count, time.monotonic()
            if time.monotonic() - stalled_since > 120:
                print(f"   stalled at {count:,} messages")
                break
            time.sleep(0.2)
        provider_last = time.monotonic() - t0
        time.sleep(2)  # the last outcomes are recorded
        statuses, last_sent = outcome(app, tenants)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
    from bookme.communications import delivery

    with app.app_context():
        ticks = []
        for _ in range(50):
            t = time.perf_counter()
            delivery.dispatch(now=datetime.now(UTC))
            ticks.append(time.perf_counter() - t)
    received = twilio.snapshot()
    per_recipient = Counter(m["to"] for m in received)
    duplicates = sum(n - 1 for n in per_recipient.values() if n > 1)
    elapsed = (last_sent - due_at).total_seconds() if last_sent else float("inf")
    print(f"   outbox: {dict(statuses)}")
    print(f"   provider received {len(received):,} messages for {len(per_recipient):,} recipients; "
          f"duplicates: {duplicates}")  # fmt: skip
    print(f"   from the due instant to the last one sent: {elapsed:.1f} s "
          f"(provider saw the last at {provider_last:.1f} s; dispatcher tick every "
          f"{args.dispatch_every} s)")  # fmt: skip
    print(
        f"   dispatcher tick right after the burst (its dead index entries not yet vacuumed): "
        f"median {statistics.median(ticks) * 1000:.2f} ms"
    )
    ok = (
        statuses.get("sent", 0) == total
        and len(received) == total
        and duplicates == 0
        and elapsed <= 60
    )
    print(f"   {'OK' if ok else 'MISSED'}: all sent, none twice, last within 60 s")
    return tenants, ok


def phase_idle(app: Any, tenants: list[Any], args: argparse.Namespace) -> bool:
    from bookme.communications import delivery
    from bookme.extensions import db

    more = args.idle_tenants - len(tenants)
    print(f"\n2. dispatcher tick with nothing due over {args.idle_tenants:,} tenant schemas")
    started = time.monotonic()
    if more > 0:
        tenants = tenants + create_tenants(app, more, first=len(tenants) + 1)
    with app.app_context(), db.engine.begin() as conn:
        # Future work in the index, as a live system has: 20 reminders per tenant, ahead.
        conn.execute(
            sa.text(
                "INSERT INTO public.notification_due (tenant_id, notification_id, kind, due_at) "
                "SELECT t.id, gen_random_uuid(), 'send', now() + (g || ' minutes')::interval "
                "FROM public.tenants t, generate_series(1, 20) g"
            )
        )
        conn.exec_driver_sql("ANALYZE public.notification_due")
        schemas = conn.execute(sa.text("SELECT count(*) FROM public.tenants")).scalar_one()
        entries = conn.execute(sa.text("SELECT count(*) FROM public.notification_due")).scalar_one()
    print(f"   {schemas:,} tenant schemas, {entries:,} future entries in the due index "
          f"(built in {time.monotonic() - started:.0f} s)")  # fmt: skip
    samples = []
    with app.app_context():
        for _ in range(50):
            delivery.dispatch(now=datetime.now(UTC))
        for _ in range(args.ticks):
            t = time.perf_counter()
            taken = delivery.dispatch(now=datetime.now(UTC))
            samples.append(time.perf_counter() - t)
            assert taken == 0
        plan = (
            db.session.execute(
                sa.text("EXPLAIN " + delivery._TAKE_DUE.text),
                {"now": datetime.now(UTC), "limit": 2000, "redispatch_at": datetime.now(UTC)},
            )
            .scalars()
            .all()
        )
        db.session.rollback()
    samples.sort()
    median = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    print(
        f"   {args.ticks} ticks: median {median:.2f} ms, p99 {p99:.2f} ms, "
        f"max {samples[-1] * 1000:.2f} ms"
    )
    print("   plan: " + " / ".join(line.strip() for line in plan if "Scan" in line))
    ok = median <= 5
    print(f"   {'OK' if ok else 'MISSED'}: at most 5 ms a tick")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--per-tenant", type=int, default=100)
    parser.add_argument("--idle-tenants", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--dispatch-every", type=int, default=Settings().notify_dispatch_seconds)
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    twilio, server = start_fake_twilio()
    recreate_database(DATABASE_URL)
    app = create_app(settings(twilio))
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    try:
        tenants, sent_ok = phase_send(app, twilio, args)
        idle_ok = phase_idle(app, tenants, args)
    finally:
        from bookme.extensions import db

        with app.app_context():
            db.engine.dispose()
        server.shutdown()
        if not args.keep:
            drop_database(DATABASE_URL)
    return 0 if sent_ok and idle_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
