"""What every benchmark needs: a database of its own, a free port, a server to stop, percentiles.

Imported as `common` (a script run as `python bench/<name>.py` has bench/ on its path).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import sqlalchemy as sa


def _admin(url: str) -> tuple[sa.Engine, str]:
    """An autocommit engine on the server's `postgres` database, and the name in `url`."""
    parsed = sa.engine.make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    return sa.create_engine(admin, isolation_level="AUTOCOMMIT"), str(parsed.database)


def recreate_database(url: str) -> None:
    """An empty database at `url` (a previous run's, and its connections, dropped)."""
    engine, name = _admin(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def drop_database(url: str) -> None:
    engine, name = _admin(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (started with start_new_session=True)."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile of samples in seconds, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000
