"""The staff admin at /admin: server-rendered pages over the same service functions as the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, request, session, url_for
from werkzeug.exceptions import HTTPException

from bookme.admin import auth, i18n, web
from bookme.core import errors

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
blp.record_once(lambda state: web.init_app(state.app))

# Reached without signing in.
OPEN_ENDPOINTS = frozenset({"admin.login", "admin.static", "admin.language"})


@blp.before_request
def _signed_in() -> Response | None:
    context = None if request.endpoint == "admin.static" else auth.load()
    g.admin = context
    tenant = context.tenant if context is not None else None
    i18n.use_language(
        i18n.choose_language(session.get(auth.LANGUAGE_KEY), tenant.locale if tenant else None)
    )
    if context is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.method == "GET":
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        raise errors.Unauthorized("Sign in first.")
    return None


@blp.errorhandler(errors.BookMeError)
def _domain_error(error: errors.BookMeError) -> Any:
    from bookme.admin.views.common import page

    if isinstance(error, auth.NoBusiness):
        return page("admin/no_business.html", status=409)
    if error.status == 401:
        return redirect(url_for("admin.login"), code=303)
    if error.status == 429 and request.endpoint == "admin.login":
        from bookme.admin.views.signin import login_refused

        return login_refused(error)
    response = page("admin/error.html", status=error.status, error=error)
    response.headers.update(error.headers)
    return response


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return _domain_error(errors.from_http_exception(error))


from bookme.admin.views import (  # noqa: E402  (the views register themselves on blp)
    bookings,
    calendar,
    catalog,
    customers,
    payments,
    settings,
    signin,
)

__all__ = ["blp", "bookings", "calendar", "catalog", "customers", "payments", "settings", "signin"]
