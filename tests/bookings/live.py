"""A real BookMe server process for concurrency tests, on committed data it cleans up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    settings: Any, *, workers: int = 2, threads: int = 8, production_config: bool = False
) -> Iterator[str]:
    """gunicorn serving `wsgi:app` against `settings`' database; yields its base URL. With
    `production_config`, under `bookme/gunicorn_conf.py` too (Procfile's `web`)."""
    port = free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "BOOKME_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": settings.secret_key,
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "BOOKME_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "BOOKME_BASE_DOMAIN": settings.base_domain,
        "BOOKME_RATELIMIT_ENABLED": "0",
        "BOOKME_LOG_JSON": "0",
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                *(["--config", "python:bookme.gunicorn_conf"] if production_config else []),
                "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--worker-class", "gthread", "--threads", str(threads),
                "--log-level", "warning", "wsgi:app",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
        try:
            _wait_for(proc, log, f"http://127.0.0.1:{port}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(proc: subprocess.Popen[bytes], log: Any, base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start within 60 s")
        time.sleep(0.2)


@dataclass
class CommittedTenant:
    id: uuid.UUID
    slug: str
    schema: str
    owner_id: uuid.UUID
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Tenant": self.slug}


def drop_tenant(engine: sa.Engine, tenant: CommittedTenant) -> None:
    """Remove everything a committed test tenant left: its schema, its rows in public."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{tenant.schema}" CASCADE')
        conn.execute(sa.text("DELETE FROM public.tenants WHERE id = :id"), {"id": tenant.id})
        conn.execute(sa.text("DELETE FROM public.users WHERE id = :id"), {"id": tenant.owner_id})
