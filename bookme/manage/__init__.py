"""The customer's manage page at /m/<manage_token>: see, cancel or reschedule a booking.

No account and no cookie: the unguessable token in the path is the credential (the pages set
no session, so no cookie is ever sent back), nothing third-party is loaded, responses say
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`, and the request log prints the
path with the token replaced (`bookme.core.logging.redact_path`). The writes are the ones the
public API uses (`/api/v1/public/bookings/<token>/cancel` and `/reschedule`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for

from bookme.admin import i18n, web
from bookme.admin.forms import ManageCancelForm, ManageRescheduleForm, parse_day
from bookme.bookings import service as bookings
from bookme.bookings.schemas import PublicRescheduleSchema
from bookme.core import clock, errors, tenancy
from bookme.customers import service as customers
from bookme.users.access import CUSTOMER

blp = Blueprint("manage", __name__, url_prefix="/m", template_folder="templates")
blp.record_once(lambda state: web.init_app(state.app))

DAYS_SHOWN = 1  # a phone screen holds one day of times; the customer steps day by day


@blp.after_request
def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _open(token: str) -> tuple[tenancy.TenantRef, Any]:
    """The booking behind `token`, its tenant made current and the page in the customer's
    language (`?lang=` when they chose another)."""
    tenant = bookings.tenant_for_manage_token(token)
    tenancy.activate(tenant)
    managed = bookings.get_managed_booking(tenant=tenant, token=token, now=clock.now())
    customer = customers.get_customer(customer_id=managed.booking.customer_id)
    i18n.use_language(
        i18n.choose_language(request.args.get("lang"), customer.locale, tenant.locale),
        timezone=tenant.timezone,
    )
    return tenant, managed


def _here(endpoint: str, token: str, **args: Any) -> str:
    lang = request.args.get("lang")
    if lang in i18n.LANGUAGES:
        args["lang"] = lang
    return url_for(endpoint, token=token, **args)


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **context), status)


@blp.route("/<token>")
def booking(token: str) -> Response:
    _, managed = _open(token)
    return _page(
        "manage/booking.html",
        managed=managed,
        token=token,
        done=request.args.get("done"),
        languages=web.language_links(),
    )


@blp.route("/<token>/cancel", methods=["GET", "POST"])
def cancel(token: str) -> Response:
    tenant, managed = _open(token)
    form = ManageCancelForm()
    if form.validate_on_submit():
        try:
            bookings.cancel_managed_booking(
                tenant=tenant, actor=CUSTOMER, now=clock.now(), token=token,
                reason=form.reason.data or None,
            )  # fmt: skip
        except (errors.CancellationWindowPassed, errors.InvalidTransition) as exc:
            return _page(
                "manage/booking.html", status=exc.status, managed=managed, token=token,
                problem=exc.code, languages=web.language_links(),
            )  # fmt: skip
        return redirect(_here("manage.booking", token, done="cancelled"), code=303)
    status = 422 if form.is_submitted() else 200
    return _page(
        "manage/cancel.html", status=status, managed=managed, token=token, form=form,
        languages=web.language_links(),
    )  # fmt: skip


@blp.route("/<token>/reschedule", methods=["GET", "POST"])
def reschedule(token: str) -> Response:
    tenant, managed = _open(token)
    zone = ZoneInfo(tenant.timezone)
    booked_day = managed.booking.starts_at.astimezone(zone).date()
    local_today = clock.now().astimezone(zone).date()
    day = max(parse_day(request.values.get("date"), max(booked_day, local_today)), local_today)
    slots = _slots(tenant, managed, day) if managed.can_change else []
    form = ManageRescheduleForm()
    form.starts_at.choices = [(s["starts_at"].isoformat(), s["starts_at"]) for s in slots]
    problem = None
    status = 200
    if form.validate_on_submit():
        try:
            data = PublicRescheduleSchema().load({"starts_at": form.starts_at.data})
            bookings.reschedule_managed_booking(
                tenant=tenant, actor=CUSTOMER, now=clock.now(), token=token,
                starts_at=data["starts_at"],
            )  # fmt: skip
        except errors.BookMeError as exc:
            problem, status = exc.code, exc.status
        except ma.ValidationError:  # not an instant: a forged value
            problem, status = "choose_time", 422
        else:
            return redirect(_here("manage.booking", token, done="rescheduled"), code=303)
    elif form.is_submitted():
        problem, status = "choose_time", 422
    return _page(
        "manage/reschedule.html", status=status, managed=managed, token=token, form=form,
        slots=slots, day=day, previous=day - timedelta(days=1), following=day + timedelta(days=1),
        today=local_today, problem=problem, languages=web.language_links(),
    )  # fmt: skip


def _slots(tenant: tenancy.TenantRef, managed: Any, day: date) -> list[dict[str, Any]]:
    """Free times that day with the same staff member (the availability SQL)."""
    from bookme.admin.queries import free_slots

    return free_slots(
        tenant=tenant,
        service_id=managed.booking.service_id,
        day_from=day,
        day_to=day + timedelta(days=DAYS_SHOWN - 1),
        staff_id=managed.booking.staff_id,
        now=clock.now(),
        moving=managed.booking,
    )


@blp.errorhandler(errors.BookMeError)
def _error(error: errors.BookMeError) -> Response:
    if not g.get("language"):
        i18n.use_language(i18n.choose_language(request.args.get("lang")))
    return _page("manage/error.html", status=error.status, error=error)
