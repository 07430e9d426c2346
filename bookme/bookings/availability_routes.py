"""Availability endpoints: bookable slots for members and, without a token, for customers."""

from __future__ import annotations

from typing import Any

from bookme.bookings import availability
from bookme.bookings.availability_schemas import AvailabilityQueryArgsSchema, AvailabilitySchema
from bookme.core import clock
from bookme.core.api import Blueprint
from bookme.users import access

blp = Blueprint(
    "Availability",
    __name__,
    description=(
        "Bookable slots of a service over local dates (the tenant's time zone, inclusive, at "
        "most 62 days). A slot is listed if and only if booking it now would succeed for each "
        "staff member listed with it: inside their working hours for that date (a date "
        "override replaces the weekly hours), clear of their time off, the tenant's closures "
        "and their other bookings (buffers included; buffers may reach outside working "
        "hours), at or after now plus the minimum notice, on a local date at most "
        "`max_advance_days` after today, and on the grid: the local (wall-clock) time of a "
        "working interval's start plus whole multiples of the slot interval; across a "
        "daylight-saving change a grid time in the skipped hour has no slot and one in the "
        "repeated hour has two. Working-hour bounds skipped by a change read with the offset "
        "before it (02:30 becomes 03:30); repeated ones mean their second occurrence. An "
        "unknown or inactive service, or a `staff_id` that is not an active staff member "
        "performing it, answers 404."
    ),
)


@blp.route("/availability")
@access.member()
@blp.arguments(AvailabilityQueryArgsSchema, location="query")
@blp.response(200, AvailabilitySchema)
@blp.problems(400, 401, 403, 404, 422)
def list_availability(args: dict[str, Any]) -> Any:
    """List the bookable slots of a service (any member)."""
    return availability.list_slots(tenant=access.current_tenant(), now=clock.now(), **args)


@blp.route("/public/availability")
@access.public
@blp.arguments(AvailabilityQueryArgsSchema, location="query")
@blp.response(200, AvailabilitySchema)
@blp.problems(400, 403, 404, 422)
def list_public_availability(args: dict[str, Any]) -> Any:
    """List the bookable slots of a service, for customers (no token)."""
    return availability.list_slots(tenant=access.current_tenant(), now=clock.now(), **args)
