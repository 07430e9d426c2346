"""Admin day view benchmark: 20 staff and 300 bookings on one day, server time and queries.

    .venv/bin/python bench/admin.py [--staff 20] [--bookings 300] [--requests 200]

Builds a fresh database (BENCH_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_admin), migrates it, creates a
business with `--staff` staff members working 08:00-20:00 and `--bookings` bookings on one day
(made through the bookings service, so with their audit rows and outbox messages), signs in
through the admin's form, then times `GET /admin/?date=...` in process (the Flask test client:
the server's own time, no network), counting the SQL statements of each request. Targets:
p50 <= 100 ms, and the same number of statements whatever the number of bookings (the
`--bookings 0` run shows it).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import recreate_database  # noqa: E402  (bench/common.py)

from bookme import create_app  # noqa: E402
from bookme.config import Settings  # noqa: E402
from bookme.core import clock, tenancy  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_bench_admin"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11")
SECRET = "bench-secret-" + "x" * 40
PASSWORD = "bench password 123"
# Monday 3 May 2027, 07:00 in Casablanca; the bookings are on Tuesday the 4th.
NOW = datetime(2027, 5, 3, 6, 0, tzinfo=UTC)
DAY = "2027-05-04"


def build(app: Any, staff_count: int, booking_count: int) -> str:
    """The business, its staff and bookings; returns the owner's email."""
    from bookme.bookings import service as bookings
    from bookme.core.db import session
    from bookme.services.models import Service
    from bookme.staff.models import Staff, WorkingHours
    from bookme.tenants.service import create_tenant
    from bookme.users.access import Actor
    from bookme.users.models import User
    from bookme.users.passwords import hash_password

    email = "owner@bench.example"
    owner = User(email=email, full_name="Bench Owner", password_hash=hash_password(PASSWORD))
    session().add(owner)
    session().commit()
    tenant = create_tenant(slug="bench-salon", name="Bench Salon", owner_id=owner.id)
    ref = tenancy.TenantRef(
        id=tenant.id, slug=tenant.slug, schema=tenant.schema_name, timezone=tenant.timezone,
        currency=tenant.currency, locale=tenant.locale, status=tenant.status,
    )  # fmt: skip
    tenancy.activate(ref)
    service = Service(
        name="Coupe", duration_minutes=30, price=80, currency="MAD", slot_interval_minutes=30,
        min_notice_minutes=0, max_advance_days=365,
    )  # fmt: skip
    session().add(service)
    staff = [Staff(display_name=f"Staff {n:02d}") for n in range(staff_count)]
    for person in staff:
        person.services = [service]
    session().add_all(staff)
    session().flush()
    session().add_all(
        WorkingHours(staff_id=p.id, weekday=d, start_minute=8 * 60, end_minute=20 * 60)
        for p in staff
        for d in range(1, 8)
    )
    session().commit()
    actor = Actor(kind="user", user_id=owner.id, email=email, role="owner")
    start = datetime.fromisoformat(f"{DAY}T08:00:00+01:00")
    for n in range(booking_count):
        person = staff[n % staff_count]
        slot = n // staff_count
        bookings.create_booking(
            tenant=ref,
            actor=actor,
            now=NOW,
            data={
                "service_id": service.id,
                "staff_id": person.id,
                "starts_at": start + timedelta(minutes=30 * slot),
                "customer": {"full_name": f"Client {n:03d}", "phone": f"+2126100{n:05d}"},
            },
            source="admin",
        )
    tenancy.activate(None)
    from bookme.extensions import db

    db.session.remove()
    return email


def run(staff_count: int, booking_count: int, requests: int) -> dict[str, Any]:
    recreate_database(DATABASE_URL)
    settings = Settings(
        env="testing",
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        secret_key=SECRET,
        jwt_secret_key=SECRET,
        log_json=False,
        ratelimit_enabled=False,
        encryption_keys=("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",),
    )
    app = create_app(settings)
    import logging

    logging.getLogger("bookme.request").setLevel(logging.WARNING)
    from bookme.extensions import db

    with clock.frozen(NOW):
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            email = build(app, staff_count, booking_count)
        client = app.test_client()
        page = client.get("/admin/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        token = token or re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "no CSRF token on the sign-in page"
        response = client.post(
            "/admin/login",
            data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        )
        assert response.status_code == 303, response.status_code

        statements: list[str] = []
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        url = f"/admin/?date={DAY}"
        for _ in range(10):  # warm up: caches, prepared statements, pool
            assert client.get(url).status_code == 200
        timings, counts = [], []
        for _ in range(requests):
            statements.clear()
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            counts.append(len(statements))
            assert response.status_code == 200
        blocks = response.text.count('class="cal-booking')
    timings.sort()
    return {
        "staff": staff_count,
        "bookings": booking_count,
        "blocks": blocks,
        "p50": statistics.median(timings),
        "p90": timings[int(len(timings) * 0.9) - 1],
        "p99": timings[int(len(timings) * 0.99) - 1],
        "mean": statistics.fmean(timings),
        "queries": sorted(set(counts)),
        "bytes": len(response.data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=20)
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    results = [
        run(args.staff, 0, args.requests),
        run(args.staff, args.bookings, args.requests),
    ]
    print(f"admin day view, {args.requests} requests each, in process (server time)")
    for r in results:
        print(
            f"  {r['staff']} staff, {r['bookings']:>4} bookings ({r['blocks']} blocks, "
            f"{r['bytes'] // 1024} KiB): p50 {r['p50']:.1f} ms, p90 {r['p90']:.1f} ms, "
            f"p99 {r['p99']:.1f} ms, mean {r['mean']:.1f} ms; SQL statements per request "
            f"{r['queries']}"
        )
    same = results[0]["queries"] == results[1]["queries"]
    print(f"  same statement count with and without bookings: {'yes' if same else 'NO'}")
    print(f"  target p50 <= 100 ms: {'met' if results[1]['p50'] <= 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
