"""Gunicorn settings for the `web` process: `gunicorn -c python:bookme.gunicorn_conf wsgi:app`.

Tunable from the environment: PORT, WEB_CONCURRENCY (processes), GUNICORN_THREADS (threads per
process), GUNICORN_TIMEOUT (seconds); anything else through GUNICORN_CMD_ARGS.
"""

from __future__ import annotations

import os
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# One process per core plus one, four threads each: requests here are short and CPU-bound
# between database round trips; every extra process adds context switches and cache misses
# on the same cores, while too few threads leave a process's keep-alive connections queued
# behind one another (and the cores idle) while its other requests wait on the database.
# Measured on 2 cores (bench/bookings.py, same code, back to back, 8 clients): 3 x 4 created
# 317 and 333 bookings/s with 3% of CPU idle, 3 x 2 250 and 311/s with 10-13% idle (storm p99
# 93-160 ms against 110-120 ms); earlier, 4 x 2 303/s, 2 x 4 185/s and 8 x 1 178/s.
# At most 8 processes by default: in a container os.cpu_count() is the host's, and every
# process holds its own database connections.
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(8, (os.cpu_count() or 1) + 1))))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle processes now and then so a slow leak cannot grow without bound; rarely, since a
# new process imports and builds the app again (about 2.5 s of CPU here): every 2,000
# requests, that was over 1 ms of CPU per request at full load, a third of serving one.
max_requests = 100_000
max_requests_jitter = 10_000
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Access logs are off (plain text would break the JSON log stream); turn them on with
# GUNICORN_CMD_ARGS="--access-logfile=-" when needed.
accesslog = None
errorlog = "-"
# If access logs are turned on, manage-link tokens (/m/<token>) are replaced before writing.
logger_class = "bookme.manage.accesslog.RedactingLogger"
# No control socket: its default path ($HOME/.gunicorn) is shared by every instance on the
# machine, and nothing here uses gunicornc.
control_socket_disable = True


def on_starting(server: Any) -> None:
    hide_server_banner()
    problem_errors()


def hide_server_banner() -> None:
    """Drop gunicorn's `Server:` response header: it names the software to every client."""
    from gunicorn.http import wsgi

    if getattr(wsgi.Response.default_headers, "_bookme_no_banner", False):
        return
    original = wsgi.Response.default_headers

    def default_headers(self: Any) -> list[str]:
        return [h for h in original(self) if not h.lower().startswith("server:")]

    default_headers._bookme_no_banner = True  # type: ignore[attr-defined]
    wsgi.Response.default_headers = default_headers  # type: ignore[method-assign]


def problem_errors() -> None:
    """gunicorn's own refusals (a request line or header over its limits, a malformed
    request) as problem+json, like every other error of the API, not its HTML page."""
    from gunicorn import util

    if getattr(util.write_error, "_bookme_problem", False):
        return
    util.write_error = write_problem


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    import json

    from gunicorn import util

    from bookme.core import errors

    # gunicorn writes 400, 403, 414, 417 and 431 for requests it cannot take, 501 for a
    # transfer coding it does not know (the client's doing too), 500 for its own failure.
    failed = status_int == 500
    code = {403: "forbidden", 500: "internal_error"}.get(status_int, "bad_request")
    body = json.dumps(
        {
            "type": errors.PROBLEM_BASE + code,
            "title": reason,
            "status": status_int,
            "detail": "Internal server error." if failed else mesg,
            "code": code,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {errors.PROBLEM_MIMETYPE}\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
        "Content-Security-Policy: frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


write_problem._bookme_problem = True  # type: ignore[attr-defined]
