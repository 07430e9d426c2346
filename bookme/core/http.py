"""Request plumbing shared by every blueprint: ids, JSON bodies, security headers, CORS."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, request


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    return getattr(g, "request_id", "-")


def register(app: Flask, tenant_origins: Callable[[str], bool] | None = None) -> None:
    allowed = set(app.config["BOOKME"].cors_origins)

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-ID"] = request_id()
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer" if request.path.startswith("/m/") else (
            "strict-origin-when-cross-origin"
        )
        csp = headers.get("Content-Security-Policy")
        if not csp:
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in csp:
            headers["Content-Security-Policy"] = csp + "; frame-ancestors 'none'"
        headers.pop("Server", None)
        headers.pop("X-Powered-By", None)
        origin = request.headers.get("Origin")
        if origin and (origin in allowed or (tenant_origins is not None and tenant_origins(origin))):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            headers["Access-Control-Expose-Headers"] = "X-Pagination, X-Request-ID, Retry-After"
            if request.method == "OPTIONS":
                headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
                headers["Access-Control-Allow-Headers"] = (
                    "Authorization, Content-Type, Idempotency-Key, X-Tenant, X-Request-ID"
                )
                headers["Access-Control-Max-Age"] = "600"
        headers.add("Vary", "Origin")
        return response
