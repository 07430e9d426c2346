"""Request plumbing shared by every blueprint: ids, request logs, security headers, CORS."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request

from bookme.core.logging import redact_path

log = logging.getLogger("bookme.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})  # probes every few seconds: DEBUG only


TOKEN_PAGE_PREFIXES = ("/m/", "/account/")


def request_id() -> str:
    return getattr(g, "request_id", "-")


def register(app: Flask, tenant_origins: Callable[[str], bool] | None = None) -> None:
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


def _cors(response: Response, tenant_origins: Callable[[str], bool] | None) -> None:
    """Only origins the operator lists (CORS_ORIGINS) and tenants' own domains; never `*`."""
    headers = response.headers
    headers.add("Vary", "Origin")
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return
    allowed = origin in current_app.config["BOOKME"].cors_origins or (
        tenant_origins is not None and tenant_origins(origin)
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
