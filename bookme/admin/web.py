"""What the server-rendered pages need app-wide: the session cookie, CSRF, Babel, Jinja filters.

Registered once, by whichever of the admin, manage and account blueprints is registered first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import flask_babel
from flask import Flask, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from bookme.admin import i18n, labels

# Token-authenticated paths: the API (bearer tokens), provider webhooks (signatures), the
# customer's manage page and the account emails' pages, whose unguessable token in the path or
# query is the credential (a forged cross-site request would have to know it already).
# Everything else that changes state needs the session's CSRF token.
CSRF_EXEMPT_PREFIXES = ("/api/", "/webhooks/", "/m/", "/account/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
REQUEST_STATE = ("csrf_token", "_flask_babel", "admin", "language", "timezone")

csrf = CSRFProtect()


class _SessionCookie(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with nothing to do when the request sends no cookie.

    Flask builds its signing serializer on every request, session cookie or not: about 2 % of
    an API request's CPU here, where no API client ever sends one. Without the cookie the
    session starts empty, as Flask's own would.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    if "bookme.web" in app.extensions:
        return
    app.extensions["bookme.web"] = True
    settings = app.config["BOOKME"]
    app.config.update(
        SESSION_COOKIE_NAME="bookme_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.env not in {"development", "testing"},
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # CSRFProtect is applied below, to every path but the exempt ones.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the signed-in session (12 hours), not one hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = _SessionCookie()
    csrf.init_app(app)

    @app.before_request
    def _fresh_request_state() -> None:
        # `g` belongs to the app context, which outlives a request when one was already
        # pushed (the test harness, CLI commands): never carry a CSRF token, a locale or a
        # signed-in user over from one request to the next.
        for name in REQUEST_STATE:
            g.pop(name, None)

    @app.before_request
    def _csrf() -> None:
        # An unmatched path or method keeps its 404/405; only real routes are checked.
        if request.method in SAFE_METHODS or request.url_rule is None:
            return
        if request.path.startswith(CSRF_EXEMPT_PREFIXES):
            return
        csrf.protect()

    i18n.babel.init_app(
        app,
        default_locale=i18n.FORMAT_LOCALES[i18n.DEFAULT_LANGUAGE],
        default_timezone="UTC",
        locale_selector=i18n.select_locale,
        timezone_selector=i18n.select_timezone,
    )
    from bookme.admin.views.common import error_heading, error_text

    app.jinja_env.filters.update(
        local_datetime=local_datetime,
        local_date=local_date,
        local_time=local_time,
        money=money,
        minor_money=minor_money,
        hhmm=hhmm,
        instant=instant,
    )
    app.jinja_env.globals.update(
        language=i18n.current_language,
        text_direction=i18n.text_direction,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
        status_label=status_label,
        payment_label=labels.payment_label,
        source_label=labels.source_label,
        event_label=labels.event_label,
        actor_label=labels.actor_label,
        role_label=labels.role_label,
        error_heading=error_heading,
        error_text=error_text,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def language_links() -> list[tuple[str, str, str]]:
    """(code, name, url) of the current page in each language: its query kept, `lang` set
    (the language switcher of the pages without a session: manage and account)."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return [
        (code, name, request.path + "?" + urlencode({**args, "lang": code}))
        for code, name in i18n.LANGUAGE_NAMES.items()
    ]


# --- formatting in the tenant's zone and the page's language -------------------------------------


def to_local(value: datetime) -> datetime:
    """An instant in the zone the page shows (the tenant's), converted with zoneinfo.

    Flask-Babel's own rebasing goes through pytz, whose Africa/Casablanca rules are wrong
    from 2027 on (it says UTC+0 all year); the standard library's zoneinfo reads tzdata.
    """
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(i18n.select_timezone()))


def local_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return str(flask_babel.format_datetime(to_local(value), format, rebase=False))


def local_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value).date()
    return str(flask_babel.format_date(value, format))


def local_time(value: datetime | None) -> str:
    """`HH:MM` on a 24-hour clock with Latin digits: how every one of our languages writes a
    time in Morocco (and an order of magnitude faster than Babel's pattern formatting, which
    matters on a calendar of hundreds of bookings)."""
    if value is None:
        return ""
    return to_local(value).strftime("%H:%M")


def minor_money(amount: int | None, currency: str) -> str:
    """An amount in minor units (payments keep them so) as money."""
    if amount is None:
        return ""
    return money(Decimal(amount) / 100, currency)


def money(amount: Decimal | str | None, currency: str) -> str:
    if amount is None:
        return ""
    return str(flask_babel.format_currency(Decimal(amount), currency))


def hhmm(minute: int) -> str:
    """Minutes of the local day as `HH:MM` (1440 is `24:00`)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def status_label(status: str) -> str:
    from bookme.admin.forms import STATUS_LABELS

    return str(STATUS_LABELS.get(status, status))


def instant(value: str | None) -> datetime | None:
    """An RFC 3339 string from an audit record as an instant."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
