"""Helpers for tests that run BookMe's real processes (gunicorn, workers, `make run`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import SERVICES

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
VENV_BIN = str(Path(sys.executable).parent)
SECRETS = {
    "SECRET_KEY": "ops-test-secret-key-" + "s" * 40,
    "JWT_SECRET_KEY": "ops-test-jwt-secret-" + "j" * 40,
    "BOOKME_ENCRYPTION_KEYS": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare_env(**values: str) -> dict[str, str]:
    """What a platform gives a process: PATH and a few basics, plus `values`; nothing inherited."""
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(values)
    return env


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> int:
    """Poll `url` until it answers 200; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            status, _, _ = http_get(url, timeout=2)
            if status == 200:
                return status
            last = status
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s (last: {last})")


def stop_group(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20
) -> int:
    """Signal a process started with start_new_session=True, and its whole group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(
                proc.info["cmdline"] or ()
            ):
                found.append(proc)
    return found


@dataclass
class Database:
    url: str
    name: str


@pytest.fixture
def fresh_database() -> Iterator[Database]:
    """An empty database on the test server, dropped afterwards."""
    base = sa.engine.make_url(SERVICES.database_url)
    name = f"{base.database}_ops_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield Database(base.set(database=name).render_as_string(hide_password=False), name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short path under /tmp for embedded servers (unix socket paths are length-limited)."""
    path = Path(tempfile.mkdtemp(prefix="bookme-ops-"))
    try:
        yield path
    finally:
        leftovers = processes_mentioning(str(path))
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(path, ignore_errors=True)


def procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries
