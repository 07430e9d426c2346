"""The day view (the landing page: one column per staff member) and a staff member's week."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import Response, request

from bookme.admin import auth, blp, queries
from bookme.admin.forms import parse_day
from bookme.admin.views.common import ctx, page
from bookme.core import clock, errors


def _day_arg() -> tuple[date, date]:
    tenant = ctx().tenant
    assert tenant is not None
    today = queries.local_today(tenant, clock.now())
    return parse_day(request.args.get("date"), today), today


@blp.route("/")
@auth.requires()
def day() -> Response:
    """Everyone's day (owners and managers); a staff member sees their own column."""
    context = ctx()
    assert context.tenant is not None
    the_day, today = _day_arg()
    start = queries.day_start(context.tenant, the_day)
    end = queries.day_start(context.tenant, the_day + timedelta(days=1))
    only = None
    if not context.can("calendar.everyone"):
        only = context.own_staff_id or uuid.UUID(int=0)
    staff = queries.calendar_staff(only=only, start=start, end=end)
    grid = queries.calendar(tenant=context.tenant, staff=staff, days=[the_day]) if staff else None
    return page(
        "admin/calendar/day.html",
        day=the_day,
        today=today,
        previous=the_day - timedelta(days=1),
        following=the_day + timedelta(days=1),
        grid=grid,
        staff=staff,
    )


@blp.route("/week")
@auth.requires()
def week() -> Response:
    """One staff member's week, Monday to Sunday."""
    context = ctx()
    assert context.tenant is not None
    the_day, today = _day_arg()
    monday = the_day - timedelta(days=the_day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    choices = queries.staff_choices()
    if not context.can("calendar.everyone"):
        choices = [s for s in choices if s.id == context.own_staff_id]
    wanted = request.args.get("staff_id")
    chosen = next((s for s in choices if str(s.id) == wanted), None)
    if wanted and chosen is None:
        if any(str(s.id) == wanted for s in queries.staff_choices()):
            raise errors.Forbidden("Staff members see their own week only.")
        raise errors.NotFound("No such staff member.")
    chosen = chosen or next((s for s in choices if s.is_active), None)
    grid = queries.calendar(tenant=context.tenant, staff=[chosen], days=days) if chosen else None
    return page(
        "admin/calendar/week.html",
        day=the_day,
        today=today,
        days=days,
        previous=monday - timedelta(days=7),
        following=monday + timedelta(days=7),
        chosen=chosen,
        choices=choices,
        grid=grid,
    )
