"""The catalog: categories, services, staff, weekly hours (split shifts), date overrides, time
off and closures. Input goes through the API's own schemas, then the same service functions."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from datetime import time
from typing import Any, TypeVar

from flask import Response, flash, request, url_for
from flask_babel import gettext as _
from flask_smorest.pagination import PaginationParameters

from bookme.admin import auth, blp, queries
from bookme.admin.forms import (
    ROWS_PER_DAY,
    WEEKDAYS,
    CategoryForm,
    DateOverrideForm,
    EmptyForm,
    PeriodForm,
    ServiceForm,
    StaffForm,
    WeeklyHoursForm,
    intervals_of,
    options,
)
from bookme.admin.views.common import ctx, form_page, load, page, put_errors, see_other, svc
from bookme.core import clock, errors
from bookme.services import service as catalog
from bookme.services.schemas import (
    ServiceCategoryCreateSchema,
    ServiceCategoryUpdateSchema,
    ServiceCreateSchema,
    ServiceUpdateSchema,
)
from bookme.staff import service as staffing
from bookme.staff.schemas import (
    ClosureCreateSchema,
    DateOverrideUpdateSchema,
    StaffCreateSchema,
    StaffUpdateSchema,
    TimeOffCreateSchema,
    WorkingHoursUpdateSchema,
)
from bookme.users import service as users


def _tenant() -> Any:
    return ctx().tenant


def _all() -> PaginationParameters:
    """Catalogs are small: one page holds them whole (a fresh object: listing fills it)."""
    return PaginationParameters(1, 500)


def _read() -> dict[str, Any]:
    return {"tenant": _tenant(), "actor": ctx().actor}


T = TypeVar("T")


def _save(
    form: Any,
    write: Callable[[], T],
    message: str,
    put: Callable[[Any, errors.BookMeError], None] = put_errors,
) -> T | None:
    """A submitted form's write: on success `message` is flashed and what `write` answered comes
    back (to redirect); a refusal is `put` onto the form and None comes back (show it again)."""
    try:
        written = write()
    except errors.BookMeError as exc:
        put(form, exc)
        return None
    flash(message, "success")
    return written


def _deleted(fn: Any, message: str, back: str, **ids: Any) -> Response:
    """A delete button: the service decides; a refusal (409) is flashed on the list."""
    EmptyForm().validate_on_submit()
    try:
        fn(**svc(), **ids)
    except errors.BookMeError as exc:
        if exc.status in (403, 404):
            raise
        from bookme.admin.views.common import describe

        flash(describe(exc), "error")
    else:
        flash(message, "success")
    return see_other(back)


# --- categories ---------------------------------------------------------------------------------


@blp.route("/categories")
@auth.requires("catalog.read")
def categories() -> Response:
    found = catalog.list_categories(**_read(), pagination=_all())
    return page("admin/catalog/categories.html", categories=found, form=EmptyForm())


@blp.route("/categories/new", endpoint="category_new", methods=["GET", "POST"])
@blp.route("/categories/<uuid:category_id>/edit", endpoint="category_edit", methods=["GET", "POST"])
@auth.requires("catalog.write")
def category_form(category_id: uuid.UUID | None = None) -> Response:
    existing = catalog.get_category(**_read(), category_id=category_id) if category_id else None
    form = CategoryForm(obj=existing)
    if form.validate_on_submit():
        data = {"name": form.name.data, "position": form.position.data}

        def write() -> Any:
            if existing is None:
                return catalog.create_category(
                    **svc(), data=load(ServiceCategoryCreateSchema(), data)
                )
            return catalog.update_category(
                **svc(), category_id=existing.id, data=load(ServiceCategoryUpdateSchema(), data)
            )

        if _save(form, write, _("Category saved.")) is not None:
            return see_other(url_for("admin.categories"))
    return form_page("admin/catalog/category_form.html", form, category=existing)


@blp.route("/categories/<uuid:category_id>/delete", methods=["POST"])
@auth.requires("catalog.write")
def category_delete(category_id: uuid.UUID) -> Response:
    return _deleted(
        catalog.delete_category, _("Category deleted."), url_for("admin.categories"),
        category_id=category_id,
    )  # fmt: skip


# --- services -----------------------------------------------------------------------------------


@blp.route("/services")
@auth.requires("catalog.read")
def services() -> Response:
    found = catalog.list_services(**_read(), pagination=_all())
    names = {c.id: c.name for c in catalog.list_categories(**_read(), pagination=_all())}
    return page("admin/catalog/services.html", services=found, categories=names, form=EmptyForm())


def _service_payload(form: ServiceForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "description": form.description.data,
        "category_id": form.category_id.data or None,
        "duration_minutes": form.duration_minutes.data,
        "price": str(form.price.data) if form.price.data is not None else None,
        "buffer_before_minutes": form.buffer_before_minutes.data or 0,
        "buffer_after_minutes": form.buffer_after_minutes.data or 0,
        "slot_interval_minutes": form.slot_interval_minutes.data,
        "min_notice_minutes": form.min_notice_minutes.data,
        "max_advance_days": form.max_advance_days.data,
        "is_active": bool(form.is_active.data),
        "payment": {
            "mode": form.payment_mode.data or "none",
            "deposit_amount": form.deposit_amount.data,
            "deposit_percent": form.deposit_percent.data,
        },
    }


@blp.route("/services/new", endpoint="service_new", methods=["GET", "POST"])
@blp.route("/services/<uuid:service_id>/edit", endpoint="service_edit", methods=["GET", "POST"])
@auth.requires("catalog.write")
def service_form(service_id: uuid.UUID | None = None) -> Response:
    existing = catalog.get_service(**_read(), service_id=service_id) if service_id else None
    form = ServiceForm(obj=existing)
    form.category_id.choices = options(
        [("", _("No category"))]
        + [(str(c.id), c.name) for c in catalog.list_categories(**_read(), pagination=_all())]
    )
    if request.method == "GET" and existing is not None:
        form.category_id.data = str(existing.category_id or "")
        form.payment_mode.data = existing.payment_mode
        if existing.deposit_amount is not None:
            form.deposit_amount.data = f"{existing.deposit_amount:.2f}"
    if form.validate_on_submit():
        payload = _service_payload(form)

        def write() -> Any:
            if existing is None:
                return catalog.create_service(**svc(), data=load(ServiceCreateSchema(), payload))
            return catalog.update_service(
                **svc(), service_id=existing.id, data=load(ServiceUpdateSchema(), payload)
            )

        put = functools.partial(put_errors, aliases={"payment.mode": "payment_mode"})
        if _save(form, write, _("Service saved."), put) is not None:
            return see_other(url_for("admin.services"))
    return form_page("admin/catalog/service_form.html", form, service=existing)


@blp.route("/services/<uuid:service_id>/delete", methods=["POST"])
@auth.requires("catalog.write")
def service_delete(service_id: uuid.UUID) -> Response:
    return _deleted(
        catalog.delete_service, _("Service deleted."), url_for("admin.services"),
        service_id=service_id,
    )  # fmt: skip


# --- staff --------------------------------------------------------------------------------------


@blp.route("/staff", endpoint="staff_list")
@auth.requires("catalog.read")
def staff_list() -> Response:
    found = staffing.list_staff(**_read(), pagination=_all())
    return page("admin/catalog/staff.html", staff=found, form=EmptyForm())


def _member_choices() -> list[tuple[str, str]]:
    members = users.list_members(tenant=_tenant(), pagination=_all())
    return [("", _("Nobody"))] + [
        (str(m.user_id), f"{m.user.full_name} <{m.user.email}>") for m in members
    ]


@blp.route("/staff/new", endpoint="staff_new", methods=["GET", "POST"])
@blp.route("/staff/<uuid:staff_id>/edit", endpoint="staff_edit", methods=["GET", "POST"])
@auth.requires("staff.write")
def staff_form(staff_id: uuid.UUID | None = None) -> Response:
    existing = staffing.get_staff(**_read(), staff_id=staff_id) if staff_id else None
    form = StaffForm(obj=existing)
    form.user_id.choices = options(_member_choices())
    form.service_ids.choices = options([(str(s.id), s.name) for s in queries.service_choices()])
    if request.method == "GET" and existing is not None:
        form.user_id.data = str(existing.user_id or "")
        form.service_ids.data = [str(i) for i in existing.service_ids]
    if form.validate_on_submit():
        payload = {
            "display_name": form.display_name.data,
            "email": form.email.data,
            "phone": form.phone.data,
            "user_id": form.user_id.data or None,
            "is_active": bool(form.is_active.data),
            "service_ids": list(form.service_ids.data or []),
        }

        def write() -> Any:
            if existing is None:
                return staffing.create_staff(**svc(), data=load(StaffCreateSchema(), payload))
            return staffing.update_staff(
                **svc(), staff_id=existing.id, data=load(StaffUpdateSchema(), payload)
            )

        saved = _save(form, write, _("Staff member saved."))
        if saved is not None:
            return see_other(url_for("admin.staff_hours", staff_id=saved.id))
    return form_page("admin/catalog/staff_form.html", form, member=existing)


@blp.route("/staff/<uuid:staff_id>/delete", methods=["POST"])
@auth.requires("staff.write")
def staff_delete(staff_id: uuid.UUID) -> Response:
    return _deleted(
        staffing.delete_staff, _("Staff member deleted."), url_for("admin.staff_list"),
        staff_id=staff_id,
    )  # fmt: skip


# --- weekly hours -------------------------------------------------------------------------------


def _hhmm(minute: int) -> time:
    return time(0) if minute == 1440 else time(minute // 60, minute % 60)


@blp.route("/staff/<uuid:staff_id>/hours", methods=["GET", "POST"])
@auth.requires()
def staff_hours(staff_id: uuid.UUID) -> Response:
    """The whole week at once, up to three intervals a day (split shifts)."""
    member = staffing.check_schedule_access(**_read(), staff_id=staff_id)
    form = WeeklyHoursForm()
    if request.method == "GET":
        current = staffing.get_working_hours(**_read(), staff_id=staff_id)["intervals"]
        for weekday in WEEKDAYS:
            rows = [r for r in current if r.weekday == weekday][:ROWS_PER_DAY]
            for index, row in enumerate(rows):
                entry = getattr(form, f"day{weekday}")[index]
                entry.start.data = _hhmm(row.start_minute)
                entry.end.data = _hhmm(row.end_minute)
    if form.validate_on_submit():
        intervals: list[dict[str, Any]] = []
        places: list[Any] = []
        for weekday in WEEKDAYS:
            rows = getattr(form, f"day{weekday}")
            filled = [row for row in rows if row.start.data or row.end.data]
            for row, interval in zip(filled, intervals_of(rows), strict=True):
                intervals.append({"weekday": weekday, **interval})
                places.append(row)

        def write() -> Any:
            data = load(WorkingHoursUpdateSchema(), {"intervals": intervals})
            return staffing.set_working_hours(
                **svc(), staff_id=staff_id, intervals=data["intervals"]
            )

        put = functools.partial(_row_errors, places=places)
        if _save(form, write, _("Working hours saved."), put) is not None:
            return see_other(url_for("admin.staff_hours", staff_id=staff_id))
    overrides = staffing.list_date_overrides(
        **_read(), now=clock.now(), staff_id=staff_id, pagination=PaginationParameters(1, 100)
    )
    time_off = staffing.list_time_off(
        **_read(), staff_id=staff_id, pagination=PaginationParameters(1, 100),
        from_=queries.local_today(_tenant(), clock.now()),
    )  # fmt: skip
    return form_page(
        "admin/catalog/hours.html",
        form,
        member=member,
        overrides=overrides,
        time_off=time_off,
        override_form=DateOverrideForm(formdata=None),
        time_off_form=PeriodForm(formdata=None),
        delete_form=EmptyForm(formdata=None),
    )


_INDEXED = re.compile(r"^intervals\.(\d+)(?:\.(\w+))?$")


def _row_errors(form: Any, error: errors.BookMeError, places: list[Any]) -> None:
    """`intervals.3.end` (or `intervals.3`) onto the row it came from; the rest above."""
    rest: dict[str, Any] = {}
    for key, messages in (error.errors or {}).items():
        match = _INDEXED.match(key)
        if match and int(match.group(1)) < len(places):
            row = places[int(match.group(1))]
            target = getattr(row, match.group(2) or "end", None) or row.end
            target.errors = [*list(target.errors or []), *messages]
        else:
            rest[key] = messages
    put_errors(form, type(error)(error.detail, errors=rest or None))


# --- date overrides -----------------------------------------------------------------------------


@blp.route("/staff/<uuid:staff_id>/overrides", methods=["POST"])
@auth.requires()
def staff_override(staff_id: uuid.UUID) -> Response:
    """Other hours on one date; no interval makes it a day off."""
    member = staffing.check_schedule_access(**_read(), staff_id=staff_id)
    form = DateOverrideForm()
    if form.validate_on_submit():
        rows = list(form.intervals)
        filled = [row for row in rows if row.start.data or row.end.data]

        def write() -> Any:
            data = load(DateOverrideUpdateSchema(), {"intervals": intervals_of(rows)})
            return staffing.set_date_override(
                **svc(), staff_id=staff_id, day=form.day.data.isoformat(),
                intervals=data["intervals"],
            )  # fmt: skip

        message = _("Hours for %(day)s saved.", day=form.day.data.isoformat())
        put = functools.partial(_row_errors, places=filled)
        if _save(form, write, message, put) is not None:
            return see_other(url_for("admin.staff_hours", staff_id=staff_id))
    return form_page("admin/catalog/override_form.html", form, member=member)


@blp.route("/staff/<uuid:staff_id>/overrides/<day>/delete", methods=["POST"])
@auth.requires()
def staff_override_delete(staff_id: uuid.UUID, day: str) -> Response:
    return _deleted(
        staffing.delete_date_override, _("Back to the weekly hours that day."),
        url_for("admin.staff_hours", staff_id=staff_id), staff_id=staff_id, day=day[:10],
    )  # fmt: skip


# --- time off -----------------------------------------------------------------------------------


def _period_payload(form: PeriodForm) -> dict[str, Any]:
    values = form.instants(_tenant().timezone)
    return {
        "starts_at": values["starts_at"].isoformat(),
        "ends_at": values["ends_at"].isoformat(),
        "reason": values["reason"],
    }


@blp.route("/staff/<uuid:staff_id>/time-off", methods=["POST"])
@auth.requires()
def staff_time_off(staff_id: uuid.UUID) -> Response:
    member = staffing.check_schedule_access(**_read(), staff_id=staff_id)
    form = PeriodForm()
    if form.validate_on_submit():

        def write() -> Any:
            data = load(TimeOffCreateSchema(), _period_payload(form))
            return staffing.create_time_off(**svc(), staff_id=staff_id, data=data)

        if _save(form, write, _("Time off added.")) is not None:
            return see_other(url_for("admin.staff_hours", staff_id=staff_id))
    return form_page("admin/catalog/time_off_form.html", form, member=member)


@blp.route("/staff/<uuid:staff_id>/time-off/<uuid:time_off_id>/delete", methods=["POST"])
@auth.requires()
def staff_time_off_delete(staff_id: uuid.UUID, time_off_id: uuid.UUID) -> Response:
    return _deleted(
        staffing.delete_time_off, _("Time off removed."),
        url_for("admin.staff_hours", staff_id=staff_id), staff_id=staff_id,
        time_off_id=time_off_id,
    )  # fmt: skip


# --- closures -----------------------------------------------------------------------------------


@blp.route("/closures", methods=["GET", "POST"])
@auth.requires("catalog.read")
def closures() -> Response:
    """The business's closures from today on; owners and managers add them here."""
    form = PeriodForm()
    if request.method == "POST":
        if not ctx().can("closures.write"):
            raise errors.Forbidden("Your role does not allow this.")
        if form.validate_on_submit():

            def write() -> Any:
                data = load(ClosureCreateSchema(), _period_payload(form))
                return staffing.create_closure(**svc(), data=data)

            if _save(form, write, _("Closure added.")) is not None:
                return see_other(url_for("admin.closures"))
    found = staffing.list_closures(
        **_read(), pagination=PaginationParameters(1, 200),
        from_=queries.local_today(_tenant(), clock.now()),
    )  # fmt: skip
    return form_page("admin/catalog/closures.html", form, closures=found, delete_form=EmptyForm())


@blp.route("/closures/<uuid:closure_id>/delete", methods=["POST"])
@auth.requires("closures.write")
def closure_delete(closure_id: uuid.UUID) -> Response:
    return _deleted(
        staffing.delete_closure, _("Closure removed."), url_for("admin.closures"),
        closure_id=closure_id,
    )  # fmt: skip
