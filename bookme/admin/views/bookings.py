"""Bookings: the filtered list, bulk actions, CSV export, detail with its history, new booking
and reschedule with a slot picker (the availability SQL), cancel with a reason."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import marshmallow as ma
import sqlalchemy as sa
from flask import (
    Response,
    current_app,
    flash,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_smorest.pagination import PaginationParameters

from bookme.admin import auth, blp, csv, queries
from bookme.admin.forms import (
    ACTION_LABELS,
    STATUS_LABELS,
    BookingFilterForm,
    BulkForm,
    CancelForm,
    CashPaymentForm,
    NewBookingForm,
    RefundForm,
    RescheduleForm,
    options,
    parse_day,
)
from bookme.admin.views.common import (
    ctx,
    describe,
    form_page,
    page,
    put_errors,
    safe_next,
    see_other,
    svc,
)
from bookme.bookings import service as bookings
from bookme.bookings.models import Booking
from bookme.bookings.schemas import (
    BookingCreateSchema,
    BookingQueryArgsSchema,
    BookingRescheduleSchema,
)
from bookme.core import clock, errors, tenancy
from bookme.core.db import session
from bookme.customers import service as customers
from bookme.staff.models import Staff, staff_services

PAGE_SIZE = 25
MAX_BULK = 100
BULK_RESULT_SECONDS = 3600
CUSTOMER_MATCHES = 8
ACTIONS = {"confirm": "confirm", "cancel": "cancel", "complete": "complete", "no-show": "no_show"}


@dataclass
class Pager:
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def url(self, number: int) -> str:
        """This page's URL, filters kept, at page `number`."""
        args = request.args.to_dict(flat=False)
        args["page"] = [str(number)]
        return request.path + "?" + urlencode(args, doseq=True)


def _tenant() -> tenancy.TenantRef:
    tenant = ctx().tenant
    assert tenant is not None
    return tenant


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        return 1


def _filters() -> tuple[BookingFilterForm, dict[str, Any] | None, str | None]:
    """The list's filters: the form to show them, and the arguments the API's own
    BookingQueryArgsSchema made of them (None when one is invalid: shown on its field)."""
    form = BookingFilterForm(request.args)
    form.staff_id.choices = options(
        [("", _("Everyone"))] + [(str(s.id), s.display_name) for s in queries.staff_choices()]
    )
    form.service_id.choices = options(
        [("", _("Every service"))] + [(str(s.id), s.name) for s in queries.service_choices()]
    )
    raw: dict[str, Any] = {}
    for key in ("from", "to", "staff_id", "service_id", "customer_id"):
        value = (request.args.get(key) or "").strip()
        if value:
            raw[key] = value
    statuses = [s for s in request.args.getlist("status") if s]
    if statuses:
        raw["status"] = statuses
    q = (request.args.get("q") or "").strip()[:200] or None
    try:
        args = BookingQueryArgsSchema().load(raw)
    except ma.ValidationError as exc:
        for key, messages in exc.messages.items():
            name = "from_" if key == "from" else key
            field = form._fields.get(name)
            target = field.errors if field is not None else []
            field_messages = messages if isinstance(messages, list) else [str(messages)]
            if field is not None:
                field.errors = [*target, *map(str, field_messages)]
        return form, None, q
    return form, args, q


@blp.route("/bookings", endpoint="bookings")
@auth.requires()
def bookings_list() -> Response:
    form, args, q = _filters()
    rows: list[Any] = []
    pager = Pager(_page_number(), PAGE_SIZE, 0)
    if args is not None:
        stmt = queries.bookings_statement(tenant=_tenant(), args=args, q=q)
        pager.total = queries.count(stmt)
        rows = queries.page(stmt, pager.page, PAGE_SIZE)
    return page(
        "admin/bookings/list.html",
        status=200 if args is not None else 400,
        partial="admin/bookings/_results.html",
        filters=form,
        rows=rows,
        pager=pager,
        bulk=BulkForm(formdata=None),
        csv_url=url_for("admin.bookings_csv") + _query_string(),
        back=request.full_path.rstrip("?"),
    )


def _query_string() -> str:
    text = request.query_string.decode("latin-1")
    return "?" + text if text else ""


@blp.route("/bookings.csv")
@auth.requires()
def bookings_csv() -> Response:
    """Exactly the filtered list (same query string), every page, streamed."""
    _form, args, q = _filters()
    if args is None:
        raise errors.BadRequest(_("A filter is not valid; correct it on the list first."))
    tenant = _tenant()
    stmt = queries.bookings_statement(tenant=tenant, args=args, q=q)
    header = [
        _("Date"), _("Start"), _("End"), _("Status"), _("Service"), _("Staff"), _("Customer"),
        _("Phone"), _("Email"), _("Price"), _("Currency"), _("Paid"), _("Notes"), _("Booking"),
    ]  # fmt: skip
    from bookme.admin.web import status_label

    zone = ZoneInfo(tenant.timezone)
    statuses = {status: status_label(status) for status in STATUS_LABELS}

    def rows() -> Iterator[list[Any]]:
        # Runs after the view returned, while the response streams: nothing here may rely on
        # per-request state, so the tenant and its zone are explicit.
        with tenancy.using(tenant):
            result = session().execute(stmt.execution_options(yield_per=500))
            for row in result:
                b = row.Booking
                starts, ends = b.starts_at.astimezone(zone), b.ends_at.astimezone(zone)
                yield [
                    starts.strftime("%Y-%m-%d"),
                    starts.strftime("%H:%M"),
                    ends.strftime("%H:%M"),
                    statuses.get(b.status, b.status),
                    row.service_name,
                    row.staff_name,
                    row.customer_name,
                    row.customer_phone,
                    row.customer_email,
                    f"{b.price:.2f}",
                    b.currency,
                    f"{b.amount_paid:.2f}",
                    b.notes,
                    str(b.id),
                ]

    name = f"bookings-{tenant.slug}-{clock.now().date().isoformat()}.csv"
    return Response(
        stream_with_context(csv.stream(header, rows())),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# --- bulk actions -------------------------------------------------------------------------------


def _ids(values: list[str]) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for value in values:
        try:
            booking_id = uuid.UUID(value)
        except ValueError as exc:
            raise errors.validation_error({"ids": [_("Not a booking.")]}) from exc
        if booking_id not in found:
            found.append(booking_id)
    return found


def _labels(ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    stmt = queries.bookings_statement(tenant=_tenant(), args={}).where(Booking.id.in_(ids))
    return {row.Booking.id: row for row in session().execute(stmt)}


def _label(row: Any) -> str:
    from bookme.admin.web import local_datetime

    if row is None:
        return _("Unknown booking")
    when = local_datetime(row.Booking.starts_at, "short")
    return f"{when} · {row.customer_name} · {row.service_name}"


@blp.route("/bookings/bulk", methods=["POST"])
@auth.requires()
def bookings_bulk() -> Response:
    """Apply one action to the checked bookings; cancelling asks for confirmation first."""
    form = BulkForm()
    back = safe_next(form.back.data, url_for("admin.bookings"))
    if not form.validate_on_submit():
        flash(_("Choose an action for the selected bookings."), "warning")
        return see_other(back)
    ids = _ids(form.ids.data or [])
    if not ids:
        flash(_("No booking was selected; nothing was done."), "warning")
        return see_other(back)
    if len(ids) > MAX_BULK:
        flash(_("At most %(count)d bookings at a time.", count=MAX_BULK), "warning")
        return see_other(back)
    action = form.action.data
    rows = _labels(ids)
    if action == "cancel" and form.confirmed.data != "yes":
        form.confirmed.data = "yes"
        form.back.data = back
        return page(
            "admin/bookings/confirm_cancel.html",
            form=form,
            items=[(i, _label(rows.get(i))) for i in ids],
        )
    results = []
    for booking_id in ids:
        try:
            bookings.change_status(
                **svc(), booking_id=booking_id, action=action, reason=form.reason.data or None
            )
        except errors.BookMeError as exc:
            results.append(
                {"label": _label(rows.get(booking_id)), "ok": False, "why": describe(exc)}
            )
        else:
            results.append({"label": _label(rows.get(booking_id)), "ok": True, "why": ""})
    token = secrets.token_urlsafe(16)
    record = {"user": str(ctx().user_id), "action": action, "back": back, "results": results}
    _redis().setex(_bulk_key(token), BULK_RESULT_SECONDS, json.dumps(record))
    return see_other(url_for("admin.bookings_bulk_result", token=token))


def _redis() -> Any:
    return current_app.extensions["bookme.redis"]


def _bulk_key(token: str) -> str:
    return f"bookme:admin:bulk:{token}"


@blp.route("/bookings/bulk/<token>")
@auth.requires()
def bookings_bulk_result(token: str) -> Response:
    raw = _redis().get(_bulk_key(token)) if len(token) <= 64 else None
    record = json.loads(raw) if raw else None
    if record is None or record["user"] != str(ctx().user_id):
        raise errors.NotFound(_("These results have expired."))
    done = [r for r in record["results"] if r["ok"]]
    return page(
        "admin/bookings/bulk_result.html",
        action_label=ACTION_LABELS.get(record["action"], record["action"]),
        results=record["results"],
        done=len(done),
        refused=len(record["results"]) - len(done),
        back=safe_next(record["back"], url_for("admin.bookings")),
    )


# --- one booking --------------------------------------------------------------------------------


def _row(booking_id: uuid.UUID) -> Any:
    row = queries.booking_row(booking_id)
    if row is None:
        raise errors.NotFound(_("No such booking."))
    return row


def _detail(booking_id: uuid.UUID, status: int = 200, problem: str | None = None) -> Response:
    context = ctx()
    row = _row(booking_id)
    events = bookings.list_events(tenant=_tenant(), actor=context.actor, booking_id=booking_id)
    notifications: list[Any] | None = None
    if context.can("notifications.read"):
        from bookme.communications import service as communications

        notifications = communications.list_booking_notifications(
            tenant=_tenant(), booking_id=booking_id, pagination=PaginationParameters(1, 50)
        )
    booking = row.Booking
    payments: list[Any] | None = None
    if context.can("payments.read"):
        from bookme.payments import service as payment_service

        payments = payment_service.list_payments(
            tenant=_tenant(), actor=context.actor, args={"booking_id": booking_id},
            pagination=PaginationParameters(1, 50),
        )  # fmt: skip
    actions = [
        (name.replace("_", "-"), ACTION_LABELS[name])
        for name, (leaves, *_rest) in bookings.TRANSITIONS.items()
        if booking.status in leaves and name != "cancel"
    ]
    return page(
        "admin/bookings/detail.html",
        status=status,
        row=row,
        booking=booking,
        events=events,
        notifications=notifications,
        payments=payments,
        cash_form=CashPaymentForm(formdata=None),
        refund_form=RefundForm(formdata=None),
        actions=actions,
        may_change=context.may_change_booking(booking.staff_id),
        form=CancelForm(formdata=None),
        problem=problem,
    )


@blp.route("/bookings/<uuid:booking_id>")
@auth.requires()
def booking(booking_id: uuid.UUID) -> Response:
    return _detail(booking_id)


@blp.route(
    "/bookings/<uuid:booking_id>/<any(confirm, complete, 'no-show'):action>", methods=["POST"]
)
@auth.requires()
def booking_action(booking_id: uuid.UUID, action: str) -> Response:
    try:
        bookings.change_status(**svc(), booking_id=booking_id, action=ACTIONS[action])
    except errors.BookMeError as exc:
        if exc.status in (403, 404):
            raise
        return _detail(booking_id, status=exc.status, problem=describe(exc))
    flash(_("Booking updated: %(status)s.", status=STATUS_LABELS[_status(booking_id)]), "success")
    return see_other(url_for("admin.booking", booking_id=booking_id))


def _status(booking_id: uuid.UUID) -> str:
    return str(session().scalar(sa.select(Booking.status).where(Booking.id == booking_id)))


@blp.route("/bookings/<uuid:booking_id>/cancel", methods=["GET", "POST"])
@auth.requires()
def booking_cancel(booking_id: uuid.UUID) -> Response:
    """Cancelling asks first, with an optional reason (works without JavaScript)."""
    bookings.authorize_change(tenant=_tenant(), actor=ctx().actor, booking_id=booking_id)
    row = _row(booking_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            bookings.change_status(
                **svc(), booking_id=booking_id, action="cancel", reason=form.reason.data or None
            )
        except errors.BookMeError as exc:
            put_errors(form, exc)
            return page("admin/bookings/cancel.html", status=exc.status, form=form, row=row)
        flash(_("The booking is cancelled."), "success")
        return see_other(url_for("admin.booking", booking_id=booking_id))
    return form_page("admin/bookings/cancel.html", form, row=row)


# --- the slot picker ----------------------------------------------------------------------------


def _qualified_staff(service_id: uuid.UUID | None) -> list[Staff]:
    if service_id is None:
        return []
    return list(
        session().scalars(
            sa.select(Staff)
            .join(staff_services, staff_services.c.staff_id == Staff.id)
            .where(staff_services.c.service_id == service_id, Staff.is_active)
            .order_by(Staff.display_name, Staff.id)
        )
    )


def _uuid_arg(name: str, source: Any = None) -> uuid.UUID | None:
    value = (source if source is not None else request.values).get(name) or ""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _slots(
    service_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    day: date,
    moving: Any = None,
) -> list[dict[str, Any]] | None:
    """Free start times that day from the availability SQL (`queries.free_slots`, `moving`
    a booking being rescheduled); None when nothing is chosen yet."""
    if service_id is None:
        return None
    return queries.free_slots(
        tenant=_tenant(),
        service_id=service_id,
        day_from=day,
        day_to=day,
        staff_id=staff_id,
        now=clock.now(),
        moving=moving,
    )


def _slot_choices(slots: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    from bookme.admin.web import local_time

    return [(s["starts_at"].isoformat(), local_time(s["starts_at"])) for s in slots or []]


def _picker_state(day_default: date) -> dict[str, Any]:
    service_id = _uuid_arg("service_id")
    staff_id = _uuid_arg("staff_id")
    day = parse_day(request.values.get("date"), day_default)
    services = queries.service_choices(active_only=True)
    if service_id is not None and all(s.id != service_id for s in services):
        service_id = None
    staff = _qualified_staff(service_id)
    if staff_id is not None and all(s.id != staff_id for s in staff):
        staff_id = None
    return {
        "service_id": service_id,
        "staff_id": staff_id,
        "day": day,
        "services": services,
        "staff": staff,
        "slots": _slots(service_id, staff_id, day),
    }


def _customer_matches(q: str) -> list[Any]:
    if not q:
        return []
    return customers.search_customers(
        tenant=_tenant(), q=q, pagination=PaginationParameters(1, CUSTOMER_MATCHES)
    )


@blp.route("/bookings/new", methods=["GET", "POST"])
@auth.requires("bookings.create")
def booking_new() -> Response:
    """Service, then staff (or anyone), then the day, then a free time and the customer."""
    tenant = _tenant()
    today = queries.local_today(tenant, clock.now())
    state = _picker_state(today)
    form = NewBookingForm()
    form.starts_at.choices = options(_slot_choices(state["slots"]))
    q = (request.values.get("q") or "").strip()[:200]
    matches = _customer_matches(q)
    form.customer_id.choices = options(
        [(str(c.id), f"{c.full_name} {c.phone or c.email or ''}".strip()) for c in matches]
    )
    if request.method == "GET":
        form.idempotency_key.data = secrets.token_urlsafe(16)
    elif form.validate_on_submit():
        data: dict[str, Any] = {
            "service_id": form.service_id.data,
            "starts_at": form.starts_at.data,
        }
        if form.staff_id.data:
            data["staff_id"] = form.staff_id.data
        if form.customer_id.data:
            data["customer_id"] = form.customer_id.data
        elif form.full_name.data or form.phone.data or form.email.data:
            data["customer"] = {
                k: v
                for k, v in {
                    "full_name": form.full_name.data,
                    "phone": form.phone.data,
                    "email": form.email.data,
                }.items()
                if v
            }
        if form.notes.data:
            data["notes"] = form.notes.data
        try:
            payload = _load(BookingCreateSchema(), data)
            response = bookings.create_booking(
                **svc(),
                data=payload,
                idempotency_key=form.idempotency_key.data or None,
                source="admin",
            )
        except errors.BookMeError as exc:
            put_errors(form, exc, aliases=_NEW_ALIASES)
            state["slots"] = _slots(state["service_id"], state["staff_id"], state["day"])
            form.starts_at.choices = options(_slot_choices(state["slots"]))
            return page(
                "admin/bookings/new.html", status=exc.status, form=form, q=q, matches=matches,
                **state,
            )  # fmt: skip
        created = response.get_json()
        flash(_("Booking created."), "success")
        return see_other(url_for("admin.booking", booking_id=created["id"]))
    return form_page(
        "admin/bookings/new.html",
        form,
        q=q,
        matches=matches,
        partial="admin/bookings/_slot_picker.html",
        **state,
    )


_NEW_ALIASES = {
    "customer": "full_name",
    "customer.full_name": "full_name",
    "customer.phone": "phone",
    "customer.email": "email",
    "customer_id": "customer_id",
    "service_id": "starts_at",
    "staff_id": "starts_at",
}


def _load(schema: ma.Schema, data: dict[str, Any]) -> Any:
    from bookme.admin.views.common import load

    return load(schema, data)


@blp.route("/bookings/<uuid:booking_id>/reschedule", methods=["GET", "POST"])
@auth.requires()
def booking_reschedule(booking_id: uuid.UUID) -> Response:
    context = ctx()
    bookings.authorize_change(tenant=_tenant(), actor=context.actor, booking_id=booking_id)
    row = _row(booking_id)
    booking = row.Booking
    today = queries.local_today(_tenant(), clock.now())
    day = parse_day(request.values.get("date"), max(today, booking.starts_at.date()))
    staff = _qualified_staff(booking.service_id)
    if not context.can("bookings.change_any"):
        staff = [s for s in staff if s.id == booking.staff_id]  # staff keep their bookings
    staff_id = _uuid_arg("staff_id") or booking.staff_id
    if all(s.id != staff_id for s in staff):
        staff_id = booking.staff_id
    slots = _slots(booking.service_id, staff_id, day, moving=booking)
    form = RescheduleForm()
    form.starts_at.choices = options(_slot_choices(slots))
    state = {"row": row, "booking": booking, "day": day, "staff": staff, "staff_id": staff_id}
    if form.validate_on_submit():
        try:
            payload = _load(
                BookingRescheduleSchema(),
                {"starts_at": form.starts_at.data, "staff_id": str(staff_id)},
            )
            bookings.reschedule_booking(
                **svc(),
                booking_id=booking_id,
                starts_at=payload["starts_at"],
                staff_id=payload.get("staff_id"),
            )
        except errors.BookMeError as exc:
            put_errors(form, exc, aliases={"staff_id": "starts_at"})
            return page(
                "admin/bookings/reschedule.html", status=exc.status, form=form, slots=slots,
                **state,
            )  # fmt: skip
        flash(_("The booking was moved."), "success")
        return see_other(url_for("admin.booking", booking_id=booking_id))
    return form_page(
        "admin/bookings/reschedule.html",
        form,
        slots=slots,
        partial="admin/bookings/_reschedule_slots.html",
        **state,
    )
