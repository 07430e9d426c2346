"""The embedded PostgreSQL + Valkey fallback, for real: start, migrate, serve, stop, recover."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap

import pytest

from bookme.embedded import start_embedded
from tests.ops.conftest import (
    PYTHON,
    REPO,
    SECRETS,
    alive,
    bare_env,
    free_port,
    http_get,
    processes_mentioning,
    procfile,
    stop_group,
    wait_http,
)

pytestmark = pytest.mark.slow


def test_embedded_servers_start_migrate_serve_readyz_and_stop(data_dir):
    embedded = start_embedded("ops", database="bookme", root=data_dir)
    try:
        assert embedded.database_url.startswith("postgresql+psycopg://postgres@/bookme?host=")
        port = free_port()
        env = bare_env(
            DATABASE_URL=embedded.database_url,
            REDIS_URL=embedded.redis_url,
            PORT=str(port),
            BOOKME_LOG_JSON="0",
            **SECRETS,
        )
        release = subprocess.run(
            ["/bin/sh", "-c", procfile()["release"]],
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert release.returncode == 0, release.stderr[-3000:]
        web = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {procfile()['web']}"],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", web)
            status, _, body = http_get(f"http://127.0.0.1:{port}/readyz")
            assert (status, json.loads(body)["checks"]) == (200, {"postgres": "ok", "redis": "ok"})
        finally:
            stop_group(web)
        pids = embedded.postgres_pid, embedded.valkey_pid
        assert all(pid and alive(pid) for pid in pids)
    finally:
        embedded.stop()
    assert not any(alive(pid) for pid in pids)
    assert processes_mentioning(str(data_dir)) == []


HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from bookme.embedded import start_embedded
    e = start_embedded("ops", database="bookme", root=Path(sys.argv[1]))
    print(json.dumps({"pg": e.postgres_pid, "valkey": e.valkey_pid}), flush=True)
    time.sleep(600)
    """
)


def test_servers_left_by_a_killed_holder_are_adopted_or_stopped_on_the_next_start(data_dir):
    holder = subprocess.Popen(
        [PYTHON, "-c", HOLDER, str(data_dir)],
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    with holder.stdout:  # type: ignore[union-attr]
        left = json.loads(holder.stdout.readline())  # type: ignore[union-attr]
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # What `kill -9` leaves: both servers running, a holder pid that is gone.
    assert alive(left["pg"]) and alive(left["valkey"])

    embedded = start_embedded("ops", database="bookme", root=data_dir)
    try:
        assert embedded.postgres_pid == left["pg"]  # adopted: same data, same server
        assert not alive(left["valkey"])  # its Valkey had nothing worth keeping
        assert embedded.valkey_pid != left["valkey"]
    finally:
        embedded.stop()
    # This process was the last holder: the adopted server stops with it.
    assert not alive(left["pg"])
    assert processes_mentioning(str(data_dir)) == []


def test_make_test_falls_back_to_embedded_servers_when_none_answers(data_dir):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TEST_DATABASE_URL", "REDIS_URL"} and not key.startswith("COV_")
    }
    env.update(BOOKME_TEST_SERVICES="embedded", BOOKME_DATA_DIR=str(data_dir))
    run = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smoke.py"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
    assert (data_dir / "test" / "pg" / "PG_VERSION").exists()
    assert processes_mentioning(str(data_dir)) == []
