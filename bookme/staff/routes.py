"""Staff endpoints: /staff, their services, weekly hours, date overrides, time off; /closures."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any

from flask_smorest.pagination import PaginationParameters

from bookme.core import clock
from bookme.core.api import Blueprint
from bookme.staff import service
from bookme.staff.schemas import (
    ClosureCreateSchema,
    ClosureSchema,
    ClosureUpdateSchema,
    DateOverrideQueryArgsSchema,
    DateOverrideSchema,
    DayIntervalsSchema,
    PeriodQueryArgsSchema,
    StaffCreateSchema,
    StaffQueryArgsSchema,
    StaffSchema,
    StaffUpdateSchema,
    TimeOffCreateSchema,
    TimeOffSchema,
    TimeOffUpdateSchema,
    WorkingWeekSchema,
)
from bookme.users import access

blp = Blueprint(
    "staff",
    __name__,
    description=(
        "Staff, the services they perform and their time: weekly hours, date overrides and "
        "time off (owners and managers for everyone; a `staff` member only their own, else "
        "403), and tenant-wide closures. Local times are `HH:MM` in the business's time zone."
    ),
)

WRITERS = access.MANAGERS
DAY_PARAMETER = {
    "in": "path",
    "name": "day",
    "required": True,
    "description": "A local date in the business's time zone, `YYYY-MM-DD` (else 422).",
    "schema": {"type": "string", "format": "date", "example": "2027-03-02"},
}


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


def _known_staff(staff_id: uuid.UUID) -> None:
    service.get_staff(**_ctx(), staff_id=staff_id)


def _known_time_off(staff_id: uuid.UUID, time_off_id: uuid.UUID) -> None:
    service.get_time_off(**_ctx(), staff_id=staff_id, time_off_id=time_off_id)


def _known_closure(closure_id: uuid.UUID) -> None:
    service.get_closure(**_ctx(), closure_id=closure_id)


def own_schedule(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Placed under `access.member()`: 404/403 for someone else's schedule, before the body."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        service.check_schedule_access(**_ctx(), staff_id=kwargs["staff_id"])
        return fn(*args, **kwargs)

    wrapper.__doc__ = (
        inspect.cleandoc(fn.__doc__ or "")
        + "\n\nA `staff` member reaches only the staff row linked to their own user (else 403)."
    )
    return wrapper


# --- staff --------------------------------------------------------------------------------------


@blp.route("/staff")
@access.member()
@blp.arguments(StaffQueryArgsSchema, location="query")
@blp.response(200, StaffSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_staff(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """List staff, by name."""
    return service.list_staff(**_ctx(), pagination=pagination_parameters, **args)


@blp.route("/staff", methods=["POST"])
@access.member(*WRITERS)
@blp.arguments(StaffCreateSchema)
@blp.response(201, StaffSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def create_staff(data: dict[str, Any]) -> Any:
    """Add a staff member (owner, manager).

    `user_id` must be a member of this business (else 422) and not linked to another staff
    member (else 409); `service_ids` must exist (else 422).
    """
    return service.create_staff(**_ctx(), now=clock.now(), data=data)


@blp.route("/staff/<uuid:staff_id>")
@access.member()
@blp.response(200, StaffSchema)
@blp.problems(400, 401, 403, 404)
def get_staff(staff_id: uuid.UUID) -> Any:
    """Get a staff member."""
    return service.get_staff(**_ctx(), staff_id=staff_id)


@blp.route("/staff/<uuid:staff_id>", methods=["PATCH"])
@access.member(*WRITERS)
@access.found(_known_staff)
@blp.arguments(StaffUpdateSchema)
@blp.response(200, StaffSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def update_staff(data: dict[str, Any], staff_id: uuid.UUID) -> Any:
    """Update a staff member (owner, manager): the fields given; `service_ids` replaces the set."""
    return service.update_staff(**_ctx(), now=clock.now(), staff_id=staff_id, data=data)


@blp.route("/staff/<uuid:staff_id>", methods=["DELETE"])
@access.member(*WRITERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404, 409)
def delete_staff(staff_id: uuid.UUID) -> Any:
    """Delete a staff member (owner, manager).

    409 `conflict` when future active bookings depend on them: deactivate them instead
    (`PATCH {"is_active": false}`). Past and cancelled bookings keep naming them; they are
    gone from everything else (404, not listed, not bookable, their user link dropped).
    """
    service.delete_staff(**_ctx(), now=clock.now(), staff_id=staff_id)


@blp.route("/services/<uuid:service_id>/staff")
@access.member()
@blp.arguments(StaffQueryArgsSchema(only=("is_active",)), location="query")
@blp.response(200, StaffSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_service_staff(
    args: dict[str, Any], service_id: uuid.UUID, pagination_parameters: PaginationParameters
) -> Any:
    """List the staff who perform a service, by name."""
    return service.list_service_staff(
        **_ctx(), service_id=service_id, pagination=pagination_parameters, **args
    )


# --- weekly hours -------------------------------------------------------------------------------


@blp.route("/staff/<uuid:staff_id>/working-hours")
@access.member()
@own_schedule
@blp.response(200, WorkingWeekSchema(many=True))
@blp.problems(400, 401, 403, 404)
def get_working_hours(staff_id: uuid.UUID) -> Any:
    """Get a staff member's whole week: a list of intervals, by weekday then start."""
    return service.get_working_hours(**_ctx(), staff_id=staff_id)["intervals"]


@blp.route("/staff/<uuid:staff_id>/working-hours", methods=["PUT"])
@access.member()
@own_schedule
@blp.arguments(WorkingWeekSchema(many=True))
@blp.response(200, WorkingWeekSchema(many=True))
@blp.problems(400, 401, 403, 404, 422)
def set_working_hours(intervals: list[dict[str, Any]], staff_id: uuid.UUID) -> Any:
    """Replace a staff member's whole week at once.

    The body is the week as a list, `[{"weekday": 1, "start": "09:00", "end": "13:00"}, …]`
    (`[]`: no weekly hours); anything but a JSON array is 400 `invalid_json`. ISO weekdays
    1 to 7, local `HH:MM` times (`24:00` allowed as an end), start before end, several
    intervals a day, at most 100; overlapping intervals within a day → 422
    `validation_error` naming the later one's index: `{"2": ["Overlaps interval 1."]}`.
    Answers the week as stored, by weekday then start.
    """
    return service.set_working_hours(
        **_ctx(), now=clock.now(), staff_id=staff_id, intervals=intervals
    )["intervals"]


# --- date overrides -----------------------------------------------------------------------------


@blp.route("/staff/<uuid:staff_id>/date-overrides")
@access.member()
@own_schedule
@blp.arguments(DateOverrideQueryArgsSchema, location="query")
@blp.response(200, DateOverrideSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_date_overrides(
    args: dict[str, Any], staff_id: uuid.UUID, pagination_parameters: PaginationParameters
) -> Any:
    """List a staff member's date overrides between two local dates (inclusive), by date.

    `from` defaults to today in the business's time zone and `to` to 366 days on; a wider
    range → 422.
    """
    return service.list_date_overrides(
        **_ctx(), now=clock.now(), staff_id=staff_id, pagination=pagination_parameters, **args
    )


@blp.route("/staff/<uuid:staff_id>/date-overrides/<string:day>", parameters=[DAY_PARAMETER])
@access.member()
@own_schedule
@blp.response(200, DateOverrideSchema)
@blp.problems(400, 401, 403, 404, 422)
def get_date_override(staff_id: uuid.UUID, day: str) -> Any:
    """Get the override of one local date (404 when that date follows the weekly hours)."""
    return service.get_date_override(**_ctx(), staff_id=staff_id, day=day)


@blp.route(
    "/staff/<uuid:staff_id>/date-overrides/<string:day>",
    methods=["PUT"],
    parameters=[DAY_PARAMETER],
)
@access.member()
@own_schedule
@blp.arguments(DayIntervalsSchema(many=True))
@blp.response(200, DateOverrideSchema)
@blp.problems(400, 401, 403, 404, 422)
def set_date_override(intervals: list[dict[str, Any]], staff_id: uuid.UUID, day: str) -> Any:
    """Replace a staff member's hours on one local date.

    The body is the date's intervals as a list, `[{"start": "10:00", "end": "14:00"}, …]`
    (at most 48); an empty list `[]` makes it a day off. Overlaps → 422 naming the later
    interval's index. Answers `{"date", "intervals"}`.
    """
    return service.set_date_override(
        **_ctx(), now=clock.now(), staff_id=staff_id, day=day, intervals=intervals
    )


@blp.route(
    "/staff/<uuid:staff_id>/date-overrides/<string:day>",
    methods=["DELETE"],
    parameters=[DAY_PARAMETER],
)
@access.member()
@own_schedule
@blp.response(204)
@blp.problems(400, 401, 403, 404, 422)
def delete_date_override(staff_id: uuid.UUID, day: str) -> Any:
    """Remove the override of one local date: the weekly hours apply again."""
    service.delete_date_override(**_ctx(), now=clock.now(), staff_id=staff_id, day=day)


# --- time off -----------------------------------------------------------------------------------


@blp.route("/staff/<uuid:staff_id>/time-off")
@access.member()
@own_schedule
@blp.arguments(PeriodQueryArgsSchema, location="query")
@blp.response(200, TimeOffSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_time_off(
    args: dict[str, Any], staff_id: uuid.UUID, pagination_parameters: PaginationParameters
) -> Any:
    """List a staff member's time off overlapping `[from, to)`, by start.

    `from` and `to` are RFC 3339 instants with an offset, or local dates (`from` at its
    start, `to` inclusive, up to its end); both optional.
    """
    return service.list_time_off(
        **_ctx(), staff_id=staff_id, pagination=pagination_parameters, **args
    )


@blp.route("/staff/<uuid:staff_id>/time-off", methods=["POST"])
@access.member()
@own_schedule
@blp.arguments(TimeOffCreateSchema)
@blp.response(201, TimeOffSchema)
@blp.problems(400, 401, 403, 404, 422)
def create_time_off(data: dict[str, Any], staff_id: uuid.UUID) -> Any:
    """Add time off: `starts_at` before `ends_at`, both RFC 3339 with an offset."""
    return service.create_time_off(**_ctx(), now=clock.now(), staff_id=staff_id, data=data)


@blp.route("/staff/<uuid:staff_id>/time-off/<uuid:time_off_id>")
@access.member()
@own_schedule
@blp.response(200, TimeOffSchema)
@blp.problems(400, 401, 403, 404)
def get_time_off(staff_id: uuid.UUID, time_off_id: uuid.UUID) -> Any:
    """Get one period of time off."""
    return service.get_time_off(**_ctx(), staff_id=staff_id, time_off_id=time_off_id)


@blp.route("/staff/<uuid:staff_id>/time-off/<uuid:time_off_id>", methods=["PATCH"])
@access.member()
@access.found(_known_time_off)
@own_schedule
@blp.arguments(TimeOffUpdateSchema)
@blp.response(200, TimeOffSchema)
@blp.problems(400, 401, 403, 404, 422)
def update_time_off(data: dict[str, Any], staff_id: uuid.UUID, time_off_id: uuid.UUID) -> Any:
    """Update time off: the fields given (the result must still start before it ends)."""
    return service.update_time_off(
        **_ctx(), now=clock.now(), staff_id=staff_id, time_off_id=time_off_id, data=data
    )


@blp.route("/staff/<uuid:staff_id>/time-off/<uuid:time_off_id>", methods=["DELETE"])
@access.member()
@own_schedule
@blp.response(204)
@blp.problems(400, 401, 403, 404)
def delete_time_off(staff_id: uuid.UUID, time_off_id: uuid.UUID) -> Any:
    """Delete time off."""
    service.delete_time_off(**_ctx(), now=clock.now(), staff_id=staff_id, time_off_id=time_off_id)


# --- closures -----------------------------------------------------------------------------------


@blp.route("/closures")
@access.member()
@blp.arguments(PeriodQueryArgsSchema, location="query")
@blp.response(200, ClosureSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_closures(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """List tenant-wide closures overlapping `[from, to)`, by start.

    `from` and `to` are RFC 3339 instants with an offset, or local dates (`from` at its
    start, `to` inclusive, up to its end); both optional.
    """
    return service.list_closures(**_ctx(), pagination=pagination_parameters, **args)


@blp.route("/closures", methods=["POST"])
@access.member(*WRITERS)
@blp.arguments(ClosureCreateSchema)
@blp.response(201, ClosureSchema)
@blp.problems(400, 401, 403, 404, 422)
def create_closure(data: dict[str, Any]) -> Any:
    """Close the whole business for a period (owner, manager), e.g. Eid."""
    return service.create_closure(**_ctx(), now=clock.now(), data=data)


@blp.route("/closures/<uuid:closure_id>")
@access.member()
@blp.response(200, ClosureSchema)
@blp.problems(400, 401, 403, 404)
def get_closure(closure_id: uuid.UUID) -> Any:
    """Get a closure."""
    return service.get_closure(**_ctx(), closure_id=closure_id)


@blp.route("/closures/<uuid:closure_id>", methods=["PATCH"])
@access.member(*WRITERS)
@access.found(_known_closure)
@blp.arguments(ClosureUpdateSchema)
@blp.response(200, ClosureSchema)
@blp.problems(400, 401, 403, 404, 422)
def update_closure(data: dict[str, Any], closure_id: uuid.UUID) -> Any:
    """Update a closure (owner, manager): the fields given."""
    return service.update_closure(**_ctx(), now=clock.now(), closure_id=closure_id, data=data)


@blp.route("/closures/<uuid:closure_id>", methods=["DELETE"])
@access.member(*WRITERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404)
def delete_closure(closure_id: uuid.UUID) -> Any:
    """Delete a closure (owner, manager)."""
    service.delete_closure(**_ctx(), now=clock.now(), closure_id=closure_id)
