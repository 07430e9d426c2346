"""Signing in and out, choosing the business and the language; operators' list of businesses."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, flash, request, session, url_for
from flask_babel import gettext as _

from bookme.admin import auth, blp, i18n
from bookme.admin.forms import EmptyForm, LanguageForm, LoginForm, SwitchTenantForm
from bookme.admin.views.common import form_page, page, put_errors, safe_next, see_other
from bookme.core import clock, errors
from bookme.core.db import session as db_session
from bookme.core.ratelimit import client_address
from bookme.extensions import limiter
from bookme.tenants.models import Tenant
from bookme.users import service as users
from bookme.users.routes import LOGIN_FAILURES_PER_ACCOUNT, LOGIN_PER_ADDRESS

# The admin's sign-in shares the API login's counters (scope = the API route's endpoint):
# 10 attempts a minute per address, 20 failures an hour per account, across both doors.
LOGIN_SCOPE = "users.login"


def _form_account() -> str:
    return "email:" + (request.form.get("email") or "").strip().lower()[:320]


def _no_account_attempt() -> bool:
    return request.method != "POST" or not (request.form.get("email") or "").strip()


@blp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(
    LOGIN_PER_ADDRESS,
    scope=LOGIN_SCOPE,
    key_func=client_address,
    exempt_when=lambda: request.method != "POST",
)
@limiter.shared_limit(
    LOGIN_FAILURES_PER_ACCOUNT,
    scope=LOGIN_SCOPE,
    key_func=_form_account,
    exempt_when=_no_account_attempt,
    deduct_when=lambda response: response.status_code == 422,
)
def login() -> Response:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = users.authenticate(
                email=form.email.data, password=form.password.data, now=clock.now()
            )
        except errors.BookMeError as exc:
            put_errors(form, exc)
        else:
            auth.sign_in(user)
            return see_other(safe_next(form.next.data, url_for("admin.day")))
    return form_page("admin/login.html", form)


def login_refused(error: errors.BookMeError) -> Response:
    """The sign-in page again, saying why (rate limited), with the limiter's status."""
    form = LoginForm()
    put_errors(form, error)
    response = page("admin/login.html", status=error.status, form=form)
    response.headers.update(error.headers)
    return response


@blp.route("/logout", methods=["POST"])
def logout() -> Response:
    auth.sign_out()
    flash(_("You are signed out."), "success")
    return see_other(url_for("admin.login"))


@blp.route("/language", methods=["POST"])
def language() -> Response:
    form = LanguageForm()
    if form.validate_on_submit() and form.lang.data in i18n.LANGUAGES:
        session[auth.LANGUAGE_KEY] = form.lang.data
    return see_other(safe_next(form.next.data, url_for("admin.day")))


@blp.route("/switch", methods=["POST"])
@auth.requires(tenant=False)
def switch_tenant() -> Response:
    form = SwitchTenantForm()
    if not form.validate_on_submit():
        raise errors.validation_error({"slug": [_("Choose a business.")]})
    auth.choose_tenant(auth.current(), form.slug.data)
    return see_other(url_for("admin.day"))


@blp.route("/tenants")
@auth.requires(tenant=False)
def operator_tenants() -> Response:
    """Every business, for platform operators to enter one."""
    context = auth.current()
    if not context.is_operator:
        raise errors.Forbidden("Only platform operators can see every business.")
    q = (request.args.get("q") or "").strip()[:100]
    stmt = sa.select(Tenant).order_by(Tenant.name, Tenant.slug).limit(100)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(Tenant.name.ilike(pattern), Tenant.slug.ilike(pattern)))
    tenants: list[Any] = list(db_session().scalars(stmt))
    return page("admin/tenants.html", tenants=tenants, q=q, form=EmptyForm())
