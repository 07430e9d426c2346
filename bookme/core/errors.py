"""Domain errors and their one rendering: RFC 9457 problem details."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("bookme.errors")

PROBLEM_BASE = "https://bookme.ma/problems/"
PROBLEM_MIMETYPE = "application/problem+json"


class BookMeError(Exception):
    """An error a client can act on; `code` is stable and documented in API.md."""

    status = 500
    code = "internal_error"
    title = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def _error(status: int, code: str, title: str) -> type[BookMeError]:
    return type(
        "".join(part.capitalize() for part in code.split("_")),
        (BookMeError,),
        {"status": status, "code": code, "title": title, "__doc__": title},
    )


InvalidJson = _error(400, "invalid_json", "Invalid JSON body")
BadRequest = _error(400, "bad_request", "Bad request")
TenantRequired = _error(400, "tenant_required", "Tenant required")
InvalidSignature = _error(400, "invalid_signature", "Invalid signature")
Unauthorized = _error(401, "unauthorized", "Unauthorized")
Forbidden = _error(403, "forbidden", "Forbidden")
TenantSuspended = _error(403, "tenant_suspended", "Tenant suspended")
NotFound = _error(404, "not_found", "Not found")
TenantNotFound = _error(404, "tenant_not_found", "Tenant not found")
MethodNotAllowed = _error(405, "method_not_allowed", "Method not allowed")
Conflict = _error(409, "conflict", "Conflict")
SlotUnavailable = _error(409, "slot_unavailable", "Slot unavailable")
InvalidTransition = _error(409, "invalid_transition", "Invalid transition")
SlugTaken = _error(409, "slug_taken", "Slug taken")
EmailTaken = _error(409, "email_taken", "Email taken")
DomainTaken = _error(409, "domain_taken", "Domain taken")
IdempotencyInProgress = _error(409, "idempotency_in_progress", "Idempotency key in progress")
CancellationWindowPassed = _error(409, "cancellation_window_passed", "Cancellation window passed")
PayloadTooLarge = _error(413, "payload_too_large", "Payload too large")
UnsupportedMediaType = _error(415, "unsupported_media_type", "Unsupported media type")
ValidationFailed = _error(422, "validation_error", "Validation error")
IdempotencyKeyReused = _error(422, "idempotency_key_reused", "Idempotency key reused")
RefundExceedsPayment = _error(422, "refund_exceeds_payment", "Refund exceeds payment")
ProviderNotConfigured = _error(422, "provider_not_configured", "Provider not configured")
RateLimited = _error(429, "rate_limited", "Too many requests")
ServiceUnavailable = _error(503, "service_unavailable", "Service unavailable")

_HTTP_CODES: dict[int, type[BookMeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def validation_error(errors: dict[str, Any], detail: str | None = None) -> BookMeError:
    return ValidationFailed(detail or "The request failed validation.", errors=errors)


# --- database errors, mapped by constraint name ---------------------------------------------

_CONSTRAINTS: dict[str, Callable[[], BookMeError]] = {}


def on_constraint(name: str, factory: Callable[[], BookMeError]) -> None:
    """Declare which domain error a violation of constraint `name` means."""
    _CONSTRAINTS[name] = factory


def translate_db_error(exc: sa.exc.DBAPIError) -> Exception:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name and name in _CONSTRAINTS:
        return _CONSTRAINTS[name]()
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "23505":
        return Conflict("This conflicts with an existing record.")
    if sqlstate in {"40001", "40P01"}:
        return ServiceUnavailable("The request conflicted with another one; retry it.")
    if exc.connection_invalidated:  # the database went away mid-request (a restart, a kill)
        return ServiceUnavailable("The database connection was lost; retry the request.")
    return exc


# --- rendering ------------------------------------------------------------------------------


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["code"] = code
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def render(error: BookMeError) -> Response:
    return problem(
        error.status,
        error.code,
        error.title,
        error.detail,
        error.errors,
        error.headers,
        error.extra,
    )


def flatten_webargs(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); clients want them by field."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if location in {"json", "query", "form", "view_args", "headers", "files"} and isinstance(
            fields, dict
        ):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def from_http_exception(exc: HTTPException) -> BookMeError:
    if isinstance(getattr(exc, "original_exception", None), BookMeError):
        return exc.original_exception  # type: ignore[return-value]
    cls = _HTTP_CODES.get(exc.code or 500)
    data = getattr(exc, "data", None) or {}
    if exc.code == 422:
        return validation_error(flatten_webargs(data.get("messages") or data.get("errors") or {}))
    if cls is None:
        cls = _error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.name)
    err = cls(exc.description if exc.code not in {404, 405, 500} else None)
    headers = dict(data.get("headers") or {})
    if exc.code == 405:
        response = exc.get_response()
        if "Allow" in response.headers:
            headers["Allow"] = response.headers["Allow"]
    err.headers.update(headers)
    return err


def _wants_html() -> bool:
    path = request.path
    return path.startswith("/admin") or path.startswith("/m/")


def register(app: Flask, html_renderer: Callable[[BookMeError], Any] | None = None) -> None:
    """Route every error through one renderer (problem+json, or HTML for the admin pages)."""

    def respond(error: BookMeError) -> Any:
        if html_renderer is not None and _wants_html():
            return html_renderer(error)
        return render(error)

    @app.errorhandler(BookMeError)
    def _domain(error: BookMeError) -> Any:
        return respond(error)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        return respond(from_http_exception(error))

    @app.errorhandler(sa.exc.DBAPIError)
    def _database(error: sa.exc.DBAPIError) -> Any:
        translated = translate_db_error(error)
        if isinstance(translated, BookMeError):
            return respond(translated)
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise error
        log.exception("unhandled error", exc_info=error)
        return respond(BookMeError("An unexpected error occurred; it has been logged."))
