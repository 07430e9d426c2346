"""Where the account emails' links land: /account/verify-email and /account/reset-password.

The sign-up and password-reset emails (`bookme.users.service`) link here with `?token=`. Like
the customer's manage page, the unguessable token is the credential: no session and no cookie
(so no CSRF token either: `web.CSRF_EXEMPT_PREFIXES`), nothing third-party, `Cache-Control:
no-store` and `Referrer-Policy: no-referrer`, and no log line prints the token (the request log
prints the path only; gunicorn's access log replaces `token=`, `bookme.manage.accesslog`).

A GET changes nothing, since mail scanners open links: only the page's button (a POST) spends
the token, through the same use cases as `POST /api/v1/auth/email/verify` and
`/api/v1/auth/password/reset`, with the API's schemas checking what the form sent.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, make_response, render_template, request

from bookme.admin import i18n, web
from bookme.core import clock, errors
from bookme.users import service as users
from bookme.users.passwords import MAX_LENGTH, MIN_LENGTH
from bookme.users.schemas import ResetPasswordSchema, VerifyEmailSchema

blp = Blueprint("account", __name__, url_prefix="/account", template_folder="templates")

# What went wrong, as the templates name it (account/_problem.html).
TOKEN_INVALID = "token_invalid"  # noqa: S105 - a message key, not a secret
TOKEN_EXPIRED = "token_expired"  # noqa: S105
PASSWORD_RULES = "password_rules"  # noqa: S105
PASSWORD_MISMATCH = "password_mismatch"  # noqa: S105


@blp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


blp.record_once(lambda state: web.init_app(state.app))


@blp.before_request
def _language() -> None:
    """No account is known before the token is spent: `?lang=`, else the browser's language."""
    i18n.use_language(i18n.choose_language(request.args.get("lang")))


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return make_response(
        render_template(template, languages=web.language_links(), **context), status
    )


def _token_problem(error: errors.BookMeError | ma.ValidationError) -> str:
    """The use case says why it refused a token; the schema only that it is malformed."""
    said = (getattr(error, "errors", None) or {}).get("token", [])
    return TOKEN_EXPIRED if users.TOKEN_EXPIRED in said else TOKEN_INVALID


def _incomplete_link() -> Response:
    return _page("account/incomplete.html", status=400)


@blp.route("/verify-email", methods=["GET", "POST"])
def verify_email() -> Response:
    token = request.args.get("token")
    if not token:
        return _incomplete_link()
    if request.method == "POST":
        try:
            VerifyEmailSchema().load({"token": token})
            users.verify_email(token=token, now=clock.now())
        except (errors.ValidationFailed, ma.ValidationError) as exc:
            return _page("account/verify.html", status=422, problem=_token_problem(exc))
        return _page("account/done.html", done="verified")
    return _page("account/verify.html", token=token)


@blp.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> Response:
    token = request.args.get("token")
    if not token:
        return _incomplete_link()
    page = {"token": token, "min_length": MIN_LENGTH, "max_length": MAX_LENGTH}
    if request.method == "GET":
        return _page("account/reset.html", **page)
    password = request.form.get("password", "")
    if password != request.form.get("confirmation", ""):
        return _page("account/reset.html", status=422, problem=PASSWORD_MISMATCH, **page)
    try:
        args = ResetPasswordSchema().load({"token": token, "password": password})
        users.reset_password(**args, now=clock.now())
    except ma.ValidationError as exc:
        problem = PASSWORD_RULES if "password" in exc.messages else TOKEN_INVALID
    except errors.ValidationFailed as exc:
        problem = _token_problem(exc)
    else:
        return _page("account/done.html", done="password_changed")
    return _page("account/reset.html", status=422, problem=problem, **page)
