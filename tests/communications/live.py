"""Committed data and real processes for the notification fault tests (and the benchmark).

A `LiveSalon` is a tenant created with real commits (its own schema, owner, one service and
one staff member open around the clock); `drop_salon` removes every trace of it. `workers`
starts `python -m bookme.worker worker|scheduler` in their own process groups, configured
through the environment like production, against the fake Twilio.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests.conftest import SERVICES
from tests.ops.conftest import PYTHON, REPO, bare_env, stop_group

DAY = [("00:00", "24:00")]


@dataclass
class LiveSalon:
    id: uuid.UUID
    slug: str
    schema: str
    owner_id: uuid.UUID
    token: str
    service_id: uuid.UUID
    staff_id: uuid.UUID

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Tenant": self.slug}


def create_salon(app: Any, *, settings: dict[str, Any] | None = None) -> LiveSalon:
    """A committed tenant ready to book at any time of day."""
    from bookme.communications.service import update_settings
    from bookme.core import clock, tenancy
    from bookme.core.db import session
    from bookme.tenants.service import create_tenant, tenant_ref_by_slug
    from bookme.users.access import SYSTEM
    from tests.conftest import access_token, make_user
    from tests.factories import make_service, make_staff

    with app.app_context():
        owner = make_user(full_name="Owner")
        session().commit()
        slug = f"live-{uuid.uuid4().hex[:12]}"
        tenant = create_tenant(slug=slug, name="Salon Live", owner_id=owner.id)
        ref = tenant_ref_by_slug(slug)
        with tenancy.using(ref):
            service = make_service(
                name="Coupe",
                duration_minutes=15,
                price="80.00",
                slot_interval_minutes=15,
                min_notice_minutes=0,
                max_advance_days=60,
            )
            staff = make_staff(services=[service], hours={d: DAY for d in range(1, 8)},
                               display_name="Nadia")  # fmt: skip
            if settings:
                update_settings(tenant=ref, actor=SYSTEM, now=clock.now(), changes=settings)
            session().commit()
        salon = LiveSalon(
            id=tenant.id,
            slug=slug,
            schema=tenant.schema_name,
            owner_id=owner.id,
            token=access_token(owner),
            service_id=service.id,
            staff_id=staff.id,
        )
        from bookme.extensions import db

        db.session.remove()
    return salon


def drop_salon(app: Any, salon: LiveSalon) -> None:
    from bookme.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{salon.schema}" CASCADE')
        conn.execute(sa.text("DELETE FROM public.tenants WHERE id = :id"), {"id": salon.id})
        conn.execute(sa.text("DELETE FROM public.users WHERE id = :id"), {"id": salon.owner_id})


def next_slot(after: timedelta, minutes: int = 15) -> datetime:
    """The first quarter hour at least `after` from now (UTC)."""
    at = datetime.now(UTC) + after
    step = minutes * 60
    return datetime.fromtimestamp(math.ceil(at.timestamp() / step) * step, UTC)


def book(client: Any, salon: LiveSalon, starts_at: datetime, phone: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/bookings",
        json={
            "service_id": str(salon.service_id),
            "staff_id": str(salon.staff_id),
            "starts_at": starts_at.isoformat(),
            "customer": {"full_name": f"Client {phone[-4:]}", "phone": phone, "locale": "fr"},
        },
        headers=salon.headers(),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def outbox(app: Any, salon: LiveSalon) -> list[Any]:
    from bookme.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    f'SELECT id, event, channel, "to", status, attempts, provider_message_id, '
                    f'error, reminder_offset_minutes FROM "{salon.schema}".notifications '
                    "ORDER BY created_at, scheduled_for"
                )
            )
        )


def execute(app: Any, sql: str, **params: Any) -> None:
    from bookme.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def worker_env(app: Any, twilio: Any, queue: str, **overrides: str) -> dict[str, str]:
    settings = app.config["BOOKME"]
    values = {
        "BOOKME_ENV": "testing",
        "DATABASE_URL": SERVICES.database_url,
        "REDIS_URL": SERVICES.redis_url,
        "SECRET_KEY": settings.secret_key,
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "BOOKME_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "BOOKME_BASE_DOMAIN": settings.base_domain,
        "BOOKME_RQ_QUEUE": queue,
        "BOOKME_LOG_JSON": "0",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_SMS_FROM": "+212522000000",
        "TWILIO_WHATSAPP_FROM": "+14155238886",
        "TWILIO_API_BASE": twilio.url,
        "BOOKME_NOTIFY_LEASE_SECONDS": "15",
        "BOOKME_NOTIFY_SEND_TIMEOUT_SECONDS": "5",
        "BOOKME_NOTIFY_DISPATCH_SECONDS": "1",
        "BOOKME_NOTIFY_REDISPATCH_SECONDS": "5",
    }
    values.update(overrides)
    return bare_env(**values)


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Any

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]


@contextlib.contextmanager
def workers(env: dict[str, str], *roles: str) -> Iterator[dict[str, Process]]:
    """Start `python -m bookme.worker <role>` for each role, each in its own process group."""
    started: dict[str, Process] = {}
    try:
        for index, role in enumerate(roles):
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
            proc = subprocess.Popen(
                [PYTHON, "-m", "bookme.worker", role.split("#")[0]],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started[role if role not in started else f"{role}#{index}"] = Process(proc, log)
        yield started
    finally:
        for process in started.values():
            if process.proc.poll() is None:
                stop_group(process.proc)
            process.log.close()


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, processes: Any = ()) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for process in processes:
            if process.proc.poll() is not None:
                raise AssertionError(f"{what}: a process exited early:\n{process.output()}")
        if time.monotonic() > deadline:
            logs = "\n---\n".join(p.output() for p in processes)
            raise AssertionError(f"{what}: not within {timeout} s\n{logs}")
        time.sleep(0.2)


def point_app_at_queue(app: Any, monkeypatch: Any, queue: str) -> None:
    """This process enqueues on the workers' queue, with their redispatch delay."""
    settings = dataclasses.replace(
        app.config["BOOKME"], rq_queue=queue, notify_redispatch_seconds=5
    )
    monkeypatch.setitem(app.config, "BOOKME", settings)
