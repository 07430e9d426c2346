"""`make run`: everything BookMe needs on one machine, in the foreground, until Ctrl-C.

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL, or are started embedded in `.data/run/`
when those are unset. Then: migrations (`flask db upgrade`), the demo business (`flask bookme
demo seed` when that command exists, else a demo tenant and owner created here; idempotent), and
gunicorn on $PORT (default 8000) with an RQ worker and the scheduler beside it. Ctrl-C (or
SIGTERM/SIGHUP) stops all of them, process groups included, then the embedded servers.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

DEMO_SLUG = "demo"
DEMO_NAME = "Salon Démo"
DEMO_EMAIL = "owner@example.com"
DEMO_PASSWORD = "demo-owner-password"  # noqa: S105 - printed to the developer on purpose

_PR_SET_PDEATHSIG = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children just won't follow a SIGKILLed parent
    _prctl = None


def say(message: str) -> None:
    print(f"[make run] {message}", file=sys.stderr, flush=True)


class Stop(Exception):
    """A signal asked us to stop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _die_with_parent(parent: int) -> Any:
    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Children:
    """Long-running child processes, each the leader of its own process group."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            list(argv),
            env=self.env,
            cwd=REPO_ROOT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - no threads here
        )
        self.procs[name] = proc
        say(f"started {name} (pid {proc.pid})")
        return proc

    def exited(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {timeout:.0f}s; killing it")
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            # Whatever it left in its group (a stuck gunicorn worker, say) goes too.
            _signal_group(proc, signal.SIGKILL)
        self.procs.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_ready(url: str, children: Children, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = children.exited()
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def _run_step(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and modules
        list(argv), env=env, cwd=REPO_ROOT, text=True, capture_output=True, check=False
    )


def _seed(env: dict[str, str]) -> None:
    python = sys.executable
    result = _run_step([python, "-m", "flask", "bookme", "demo", "seed"], env)
    if result.returncode == 2 and "No such command" in result.stderr:
        result = _run_step([python, "-m", "bookme.devserver", "seed"], env)
    sys.stderr.write(result.stderr)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        raise RuntimeError("loading the demo business failed")


@contextlib.contextmanager
def _signals_raise_stop() -> Iterator[None]:
    # SIGINT too: a shell that starts us in the background leaves it ignored otherwise.
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve() -> int:
    port = int(os.environ.get("PORT") or 8000)
    host = os.environ.get("HOST") or "127.0.0.1"
    if not _port_free(host, port):
        say(f"port {port} on {host} is taken; try PORT={port + 1} make run")
        return 1
    env = dict(os.environ)
    env.setdefault("BOOKME_ENV", "development")
    env.setdefault("BOOKME_LOG_JSON", "0")
    env.setdefault("PUBLIC_BASE_URL", f"http://localhost:{port}")
    env["FLASK_APP"] = "wsgi:app"
    env["PYTHONUNBUFFERED"] = "1"
    children = Children(env)
    embedded: Any = None
    try:
        with _signals_raise_stop():
            embedded = _services(env)
            _migrate_and_seed(env)
            _start_processes(children, host, port)
            return _supervise(children)
    except (KeyboardInterrupt, Stop) as exc:
        say(f"stopping ({exc or 'SIGINT'})")
        return 0
    except RuntimeError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave orphans behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        children.stop()
        if embedded is not None:
            embedded.stop()
        say("stopped")


def _services(env: dict[str, str]) -> Any:
    """Embedded PostgreSQL and/or Valkey for what the environment does not name."""
    need_pg, need_redis = not env.get("DATABASE_URL"), not env.get("REDIS_URL")
    embedded = None
    if need_pg or need_redis:
        from bookme.embedded import data_root, start_embedded

        names = [n for n, needed in (("PostgreSQL", need_pg), ("Valkey", need_redis)) if needed]
        say(f"starting embedded {' and '.join(names)} in {data_root() / 'run'}")
        embedded = start_embedded("run", database="bookme", postgres=need_pg, redis=need_redis)
        env["DATABASE_URL"] = env.get("DATABASE_URL") or embedded.database_url or ""
        env["REDIS_URL"] = env.get("REDIS_URL") or embedded.redis_url or ""
    say(f"database {env['DATABASE_URL']}")
    say(f"redis    {env['REDIS_URL']}")
    return embedded


def _migrate_and_seed(env: dict[str, str]) -> None:
    say("migrating (flask db upgrade)")
    migrate = _run_step([sys.executable, "-m", "flask", "db", "upgrade"], env)
    sys.stderr.write(migrate.stderr[-4000:])
    if migrate.returncode != 0:
        raise RuntimeError("migrations failed")
    _seed(env)


def _start_processes(children: Children, host: str, port: int) -> None:
    python = sys.executable
    children.spawn("web", [
        python, "-m", "gunicorn", "--config", "python:bookme.gunicorn_conf",
        "--bind", f"{host}:{port}", "--graceful-timeout", "5", "wsgi:app",
    ])  # fmt: skip
    children.spawn("worker", [python, "-m", "bookme.worker", "worker"])
    children.spawn("scheduler", [python, "-m", "bookme.worker", "scheduler"])
    local = "127.0.0.1" if host == "0.0.0.0" else host  # noqa: S104
    _wait_ready(f"http://{local}:{port}/readyz", children)
    base = f"http://{'localhost' if local == '127.0.0.1' else local}:{port}"
    say(f"BookMe is up: {base}  (API docs {base}/api/docs)")
    say("Ctrl-C stops everything")


def _supervise(children: Children) -> int:
    while True:
        dead = children.exited()
        if dead:
            say(f"{', '.join(dead)} exited; stopping the rest")
            return 1
        time.sleep(0.3)


# --- the demo business (used when `flask bookme demo seed` does not exist) --------------------


def seed_demo() -> bool:
    """Create the demo owner and tenant unless they exist; True when something was created."""
    from bookme.core.db import transactional

    return transactional(_seed_demo)()


def _seed_demo() -> bool:
    import sqlalchemy as sa

    from bookme.core.clock import now
    from bookme.core.db import session
    from bookme.tenants.service import create_tenant, get_by_slug
    from bookme.users.models import User
    from bookme.users.passwords import hash_password

    created = False
    user = session().scalar(sa.select(User).where(sa.func.lower(User.email) == DEMO_EMAIL))
    if user is None:
        user = User(
            email=DEMO_EMAIL,
            full_name="Demo Owner",
            password_hash=hash_password(DEMO_PASSWORD),
            email_verified_at=now(),
        )
        session().add(user)
        session().flush()
        created = True
    if get_by_slug(DEMO_SLUG) is None:
        create_tenant(slug=DEMO_SLUG, name=DEMO_NAME, owner_id=user.id, actor="make run")
        created = True
    return created


def _seed_command() -> int:
    from bookme import create_app

    app = create_app()
    with app.app_context():
        created = seed_demo()
    print(f"[make run] demo business {'created' if created else 'already there'}: "
          f"tenant '{DEMO_SLUG}' (header X-Tenant: {DEMO_SLUG})")  # fmt: skip
    print(f"[make run] demo owner login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bookme.devserver", description=__doc__)
    parser.add_argument("command", nargs="?", choices=("serve", "seed"), default="serve")
    args = parser.parse_args(argv)
    if args.command == "seed":
        return _seed_command()
    return serve()


if __name__ == "__main__":
    raise SystemExit(main())
