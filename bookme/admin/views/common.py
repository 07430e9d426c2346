"""What every admin view shares: the service call context, Post/Redirect/Get, errors on forms,
and the one place that picks a partial (htmx) or the whole page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import Response, make_response, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from wtforms import Form

from bookme.admin import auth
from bookme.core import clock, errors

# What each stable error code means, in the page's language; the service's own detail (in
# English, and naming the specifics) follows it.
ERROR_TITLES = {
    "slot_unavailable": _l("This time is not available."),
    "invalid_transition": _l("This change is not possible in the booking's current state."),
    "cancellation_window_passed": _l("It is too late to change this booking online."),
    "forbidden": _l("Your role does not allow this."),
    "not_found": _l("Not found."),
    "validation_error": _l("Please correct the fields marked below."),
    "conflict": _l("This conflicts with existing data."),
    "email_taken": _l("This email address is already in use."),
    "phone_taken": _l("This phone number is already in use."),
    "tenant_suspended": _l("This business is suspended."),
    "rate_limited": _l("Too many attempts; wait a little and try again."),
    "unauthorized": _l("Incorrect email or password."),
}


def ctx() -> auth.AdminContext:
    return auth.current()


def svc(**extra: Any) -> dict[str, Any]:
    """The keyword arguments every service write takes: tenant, actor and now."""
    context = auth.current()
    return {"tenant": context.tenant, "actor": context.actor, "now": clock.now(), **extra}


def see_other(url: str) -> Response:
    """POST → 303 → GET (Post/Redirect/Get)."""
    return redirect(url, code=303)


def safe_next(url: str | None, default: str) -> str:
    """A same-site path under /admin to come back to, never another origin."""
    if not url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in url:
        return default
    return url


def is_partial_request() -> bool:
    """An htmx request for a fragment: not a boosted navigation, not a history restore."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def page(
    template_name: str, /, status: int = 200, partial: str | None = None, **context: Any
) -> Response:
    """Render the page, or only `partial` (a template the page itself includes) for htmx."""
    name = partial if partial is not None and is_partial_request() else template_name
    response = make_response(render_template(name, **context), status)
    response.headers.add("Vary", "HX-Request")
    response.headers["Cache-Control"] = "no-store"
    return response


def form_page(template_name: str, form: Form, /, **context: Any) -> Response:
    """A form's page: 422 when it was submitted and has errors, else 200."""
    status = 422 if form.is_submitted() and (form.errors or _top_errors(form)) else 200
    return page(template_name, status=status, form=form, **context)


def _top_errors(form: Form) -> list[str]:
    return list(getattr(form, "top_errors", []) or [])


def describe(error: errors.BookMeError) -> str:
    """A service error for people: what it means in their language, then the specifics."""
    title = ERROR_TITLES.get(error.code)
    detail = error.detail or ""
    if title is None:
        return detail or error.title
    if not detail or error.code in {"validation_error", "unauthorized"}:
        return str(title)
    return f"{title} {detail}"


_HEADINGS = {
    400: _l("The request could not be understood"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    409: _l("Not possible"),
    422: _l("Not valid"),
    429: _l("Too many attempts"),
}


def error_heading(error: errors.BookMeError) -> str:
    return str(_HEADINGS.get(error.status, error.title))


def error_text(error: errors.BookMeError) -> str:
    if error.code == "bad_request" and "CSRF" in (error.detail or ""):
        return str(
            _l("The form expired or did not come from this site; go back and submit it again.")
        )
    return describe(error)


def put_errors(
    form: Form, error: errors.BookMeError, aliases: dict[str, str] | None = None
) -> None:
    """A service's refusal onto the form: field errors on their fields (`customer.phone` onto
    `phone`, `intervals.0.start` onto `intervals`), everything else above the form."""
    top: list[str] = list(getattr(form, "top_errors", []) or [])
    aliases = aliases or {}
    placed = False
    for key, messages in _entries(error.errors or {}):
        name = aliases.get(key) or aliases.get(key.split(".")[0]) or key
        target = _field(form, name)
        texts = _texts(messages)
        if target is None:
            top.extend(texts)
            continue
        target.errors = [*list(target.errors or []), *texts]
        placed = True
    if not placed or error.code != "validation_error":
        top.insert(0, describe(error))
    form.top_errors = top  # type: ignore[attr-defined]


def _entries(found: dict[Any, Any]) -> Iterator[tuple[str, Any]]:
    """Field errors by dotted name: a nested object's own fields one level down
    (`{"customer": {"phone": [...]}}` as `customer.phone`); deeper ones stay whole."""
    for key, messages in found.items():
        leaf = isinstance(messages, dict) and messages
        if leaf and all(isinstance(texts, list | str) for texts in messages.values()):
            for inner, texts in messages.items():
                yield f"{key}.{inner}", texts
        else:
            yield str(key), messages


def _field(form: Form, name: str) -> Any:
    for candidate in (name, name.rsplit(".", maxsplit=1)[-1], name.split(".", maxsplit=1)[0]):
        if candidate in form._fields:
            return form._fields[candidate]
    return None


def _texts(messages: Any) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, dict):
        return [f"{k}: {t}" for k, v in messages.items() for t in _texts(v)]
    if isinstance(messages, list | tuple):
        return [t for m in messages for t in _texts(m)]
    return [str(messages)]


def load(schema: ma.Schema, data: Any) -> Any:
    """Check a payload with the API's own schema, so the admin accepts exactly what the API
    accepts; its messages come back as a validation error by field."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise errors.validation_error(_flatten(exc.messages)) from exc


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {prefix or "_schema": _texts(messages)}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = _texts(value)
    return flat
