"""`make run`: embedded servers, migrations, the demo business, web + worker + scheduler, and a
Ctrl-C that leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from bookme import devserver
from bookme.core.db import session
from bookme.tenants.service import get_by_slug
from bookme.users.models import Membership, User
from tests.ops.conftest import PYTHON, REPO, alive, free_port, http_get, processes_mentioning


def _wait_for_output(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} from make run:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.mark.slow
def test_make_run_serves_then_ctrl_c_leaves_no_process_behind(data_dir, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "PORT"}}
    env.update(PORT=str(port), BOOKME_DATA_DIR=str(data_dir), BOOKME_LOG_JSON="0")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        # Its own process group, as a terminal's foreground job: Ctrl-C signals the group.
        run = subprocess.Popen(
            [PYTHON, "-m", "bookme.devserver"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        output = _wait_for_output(log, "BookMe is up", run, timeout=180)
        status, _, body = http_get(f"http://127.0.0.1:{port}/readyz")
        assert (status, json.loads(body)["checks"]) == (200, {"postgres": "ok", "redis": "ok"})
        login = re.search(r"login: (\S+@\S+) / (\S+)", output)
        assert login, output[-3000:]
        _assert_login_works(port, *login.groups())
        family = psutil.Process(run.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "gunicorn" in names and "bookme.worker worker" in names
        assert "bookme.worker scheduler" in names
        postgres = int((data_dir / "run" / "pg" / "postmaster.pid").read_text().split()[0])
        watched = [run.pid, postgres, *(p.pid for p in family)]
    finally:
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        try:
            code = run.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "[make run] stopped" in output
    assert [pid for pid in watched if alive(pid)] == []
    assert processes_mentioning(str(data_dir)) == []
    assert "Traceback" not in output, output[-4000:]


def _assert_login_works(port: int, email: str, password: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["access_token"]


def test_demo_seed_creates_the_owner_and_tenant_once(db):
    assert devserver.seed_demo() is True
    assert devserver.seed_demo() is False
    tenant = get_by_slug(devserver.DEMO_SLUG)
    owner = session().scalar(sa.select(User).where(User.email == devserver.DEMO_EMAIL))
    roles = session().scalars(
        sa.select(Membership.role).where(
            Membership.tenant_id == tenant.id, Membership.user_id == owner.id
        )
    )
    assert list(roles) == ["owner"]


def test_make_run_refuses_a_port_that_is_taken(monkeypatch, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("PORT", str(sock.getsockname()[1]))
        monkeypatch.setenv("HOST", "127.0.0.1")
        assert devserver.main([]) == 1
    assert "is taken" in capsys.readouterr().err
