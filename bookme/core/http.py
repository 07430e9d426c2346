"""Request plumbing shared by every blueprint: ids, request logs, security headers, CORS."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import IO, Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import RequestRedirect
from werkzeug.wsgi import get_content_length

from bookme.core import errors, tenancy
from bookme.core.logging import redact_path

log = logging.getLogger("bookme.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})  # probes every few seconds: DEBUG only


TOKEN_PAGE_PREFIXES = ("/m/", "/account/")


def request_id() -> str:
    return getattr(g, "request_id", "-")


def register(
    app: Flask, tenant_origins: Callable[[str, uuid.UUID | None], bool] | None = None
) -> None:
    app.wsgi_app = _StreamedBodyLimit(app.wsgi_app, app)  # type: ignore[method-assign]
    # Paths are matched as sent: werkzeug would answer `//` with a 308 to the merged path,
    # whose body is an HTML page. A doubled slash is a path that does not exist (404).
    app.url_map.merge_slashes = False

    @app.before_request
    def _no_redirect_under_api() -> None:
        # Routing's other redirect, to a rule's trailing slash (strict_slashes), bypasses the
        # error handlers with the same HTML body. No /api rule ends with a slash today.
        if isinstance(request.routing_exception, RequestRedirect) and _under_api(request.path):
            raise errors.NotFound()

    @app.before_request
    def _assign_request_id() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        return None

    def _retry_after_floor(response: Response) -> Response:
        # flask-limiter sends Retry-After with every answer of a limited route, a 201
        # included; API.md gives it to 429 (and a 503 may say it): elsewhere it is dropped.
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        # flask-limiter truncates the wait to whole seconds and can say 0 in a window's last
        # second; a client told to retry after 0 s just hits the limit again.
        if response.status_code == 429:
            value = response.headers.get("Retry-After", "")
            if not value.isdigit() or int(value) < 1:
                response.headers["Retry-After"] = "1"
        return response

    # after_request functions run last-registered-first: this one must run after the
    # limiter's own header injection, so it goes to the front of the list.
    app.after_request_funcs.setdefault(None, []).insert(0, _retry_after_floor)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-ID"] = request_id()
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # Pages whose URL holds a credential (a manage or account token) never send it on.
        headers["Referrer-Policy"] = (
            "no-referrer"
            if request.path.startswith(TOKEN_PAGE_PREFIXES)
            else "strict-origin-when-cross-origin"
        )
        csp = headers.get("Content-Security-Policy")
        if not csp:
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in csp:
            headers["Content-Security-Policy"] = csp + "; frame-ancestors 'none'"
        headers.pop("Server", None)
        headers.pop("X-Powered-By", None)
        _cors(response, tenant_origins)
        _log(response)
        return response


def _under_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class _StreamedBodyLimit:
    """WSGI middleware: a body sent without Content-Length (`Transfer-Encoding: chunked`)
    over MAX_CONTENT_LENGTH is 413, as one with a Content-Length over it is.

    Werkzeug reads such a body up to the limit and stops there without a word, so the JSON
    parser got the first MiB of a longer body and answered 400 `invalid_json`.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        # Only a server that terminates the stream (input_terminated) lets werkzeug read a
        # body of unknown length at all; otherwise it reads none.
        if (
            limit is not None
            and "wsgi.input_terminated" in environ
            and get_content_length(environ) is None
        ):
            environ["wsgi.input"] = _OverLimitCheck(environ["wsgi.input"], limit)
        return self.wsgi_app(environ, start_response)


class _OverLimitCheck(io.RawIOBase):
    """The input stream, which looks one byte further once `limit` bytes were read: if the
    body goes on, it is too large (werkzeug itself never reads past the limit)."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        before, self._read = self._read, self._read + size
        if before < self._limit <= self._read and (
            self._read > self._limit or self._stream.read(1)
        ):
            raise RequestEntityTooLarge()
        return size


def _cors(
    response: Response, tenant_origins: Callable[[str, uuid.UUID | None], bool] | None
) -> None:
    """Only origins the operator lists (CORS_ORIGINS) and tenants' own domains (of the
    request's tenant when it resolved one); never `*`."""
    headers = response.headers
    headers.add("Vary", "Origin")
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return
    allowed = origin in current_app.config["BOOKME"].cors_origins or (
        tenant_origins is not None and tenant_origins(origin, request.environ.get(tenancy.RESOLVED))
    )
    if not allowed:
        return
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    headers["Access-Control-Expose-Headers"] = "X-Pagination, X-Request-ID, Retry-After"
    if request.method == "OPTIONS":
        headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
        headers["Access-Control-Allow-Headers"] = (
            "Authorization, Content-Type, Idempotency-Key, X-Tenant, X-Request-ID"
        )
        headers["Access-Control-Max-Age"] = "600"


def _log(response: Response) -> None:
    """One line per request; the formatter adds the request id, tenant, method and path."""
    started = g.get("request_started")
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
    log.log(
        level,
        "%s %s %s",
        request.method,
        redact_path(request.path),
        response.status_code,
        extra={"status": response.status_code, "duration_ms": duration},
    )
