"""The Procfile's `release` and `web` commands, run as a Heroku-style platform runs them:
through a shell, given only DATABASE_URL, REDIS_URL, PORT and the secrets, on an empty database.
"""

from __future__ import annotations

import json
import subprocess

import sqlalchemy as sa

from tests.conftest import SERVICES
from tests.ops.conftest import (
    REPO,
    SECRETS,
    bare_env,
    free_port,
    http_get,
    procfile,
    stop_group,
    wait_http,
)


def _platform_env(database_url: str, port: int) -> dict[str, str]:
    # Heroku hands out postgres:// URLs; BookMe must take them as they come.
    heroku_url = sa.engine.make_url(database_url).set(drivername="postgres")
    return bare_env(
        DATABASE_URL=heroku_url.render_as_string(hide_password=False),
        REDIS_URL=SERVICES.redis_url,
        PORT=str(port),
        BOOKME_ENV="production",
        **SECRETS,
    )


def test_release_then_web_serve_an_empty_database(fresh_database):
    port = free_port()
    env = _platform_env(fresh_database.url, port)
    commands = procfile()

    release = subprocess.run(
        ["/bin/sh", "-c", commands["release"]],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert release.returncode == 0, release.stderr[-3000:]

    engine = sa.create_engine(fresh_database.url)
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    engine.dispose()
    assert {"tenants", "users", "memberships"} <= tables

    web = subprocess.Popen(
        ["/bin/sh", "-c", f"exec {commands['web']}"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", web, timeout=60)
        status, headers, body = http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200
        assert json.loads(body)["checks"] == {"postgres": "ok", "redis": "ok"}
        status, headers, body = http_get(f"http://127.0.0.1:{port}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert "Server" not in headers
        assert headers["X-Content-Type-Options"] == "nosniff"
    finally:
        stop_group(web)
        with web.stdout:  # type: ignore[union-attr]
            output = web.stdout.read().decode(errors="replace")  # type: ignore[union-attr]
    assert "Traceback" not in output, output[-3000:]


def test_production_refuses_to_start_without_its_secrets(fresh_database):
    env = _platform_env(fresh_database.url, free_port())
    del env["SECRET_KEY"], env["JWT_SECRET_KEY"]
    release = subprocess.run(
        ["/bin/sh", "-c", procfile()["release"]],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode != 0
    assert "SECRET_KEY must be set" in release.stderr
