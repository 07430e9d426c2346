"""Request and response schemas of staff, their weekly hours, date overrides, time off, closures."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import marshmallow as ma

from bookme.core.api import (
    AwareDateTime,
    LocalDate,
    LocalTime,
    Pattern,
    QuerySchema,
    Schema,
    Str,
    StrictBoolean,
    TenantDateTime,
)
from bookme.services.schemas import Name

MAX_WEEK_INTERVALS = 100
MAX_DAY_INTERVALS = 48
MAX_SERVICES_PER_STAFF = 500
MAX_OVERRIDE_RANGE_DAYS = 366
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# Instants far outside any booking's life would overflow Python's datetime once shifted to
# the tenant's offset, so they are refused at the door.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)

WEEKDAYS = ("", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def minutes_of(hhmm: str) -> int:
    hours, _, mins = hhmm.partition(":")
    return int(hours) * 60 + int(mins)


def _in_range(value: dt.datetime) -> None:
    if not EARLIEST <= value < LATEST:
        raise ma.ValidationError("Must be between 2000-01-01 and 2200-01-01.")


def Instant(**kwargs: Any) -> AwareDateTime:
    return AwareDateTime(validate=_in_range, **kwargs)


class InstantOrDate(ma.fields.Field):
    """An RFC 3339 instant with offset, or a local date `YYYY-MM-DD` in the tenant's zone."""

    default_error_messages = {
        "invalid": "Expected an RFC 3339 instant with an offset, or a date YYYY-MM-DD."
    }
    MAX_LENGTH = 40  # "2027-03-30T10:00:00.123456+01:00" is 32

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or len(value) > self.MAX_LENGTH:
            raise self.make_error("invalid")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError as exc:
                raise self.make_error("invalid") from exc
            if not EARLIEST.date() <= day < LATEST.date():
                raise ma.ValidationError("Must be between 2000-01-01 and 2200-01-01.")
            return day
        # An unencoded "+" in a query string arrives as a space: "…T10:00:00 01:00".
        value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value)
        try:
            instant = Instant()._deserialize(value, attr, data, **kwargs)
        except ma.ValidationError as exc:
            raise self.make_error("invalid") from exc
        _in_range(instant)
        return instant


# --- staff --------------------------------------------------------------------------------------


class StaffSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    display_name = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    user_id = ma.fields.UUID(allow_none=True)
    is_active = ma.fields.Boolean()
    service_ids = ma.fields.List(ma.fields.UUID())
    created_at = TenantDateTime(dump_only=True)
    updated_at = TenantDateTime(dump_only=True)


def _staff_fields(create: bool) -> dict[str, ma.fields.Field]:
    def default(value: Any) -> dict[str, Any]:
        return {"load_default": value} if create else {}

    return {
        "display_name": Name(120, required=create, metadata={"example": "Nadia"}),
        "email": ma.fields.Email(
            allow_none=True, validate=ma.validate.Length(max=320), **default(None)
        ),
        "phone": ma.fields.String(
            allow_none=True,
            validate=Pattern(E164_RE, error="Expected an E.164 number like +212612345678."),
            metadata={"description": "E.164, e.g. +212612345678.", "maxLength": 16},
            **default(None),
        ),
        "user_id": ma.fields.UUID(
            allow_none=True,
            metadata={
                "description": "A user who is a member of this business (else 422), so they "
                "can sign in and manage their own schedule; one staff member per user (else 409)."
            },
            **default(None),
        ),
        "is_active": StrictBoolean(**default(True)),
        "service_ids": ma.fields.List(
            ma.fields.UUID(),
            validate=ma.validate.Length(max=MAX_SERVICES_PER_STAFF),
            metadata={"description": "The services this person performs (replaces the set)."},
            **default([]),
        ),
    }


StaffCreateSchema = Schema.from_dict(_staff_fields(create=True), name="StaffCreateSchema")
StaffUpdateSchema = Schema.from_dict(_staff_fields(create=False), name="StaffUpdateSchema")


class StaffQueryArgsSchema(QuerySchema):
    is_active = ma.fields.Boolean()
    service_id = ma.fields.UUID(metadata={"description": "Only those who perform this service."})


# --- weekly hours and date overrides ------------------------------------------------------------


class LocalIntervalSchema(Schema):
    """A local wall-clock interval `[start, end)`; `end` may be `24:00`."""

    start = LocalTime(required=True, metadata={"example": "09:00"})
    end = LocalTime(required=True, metadata={"example": "13:00"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if minutes_of(data["start"]) >= minutes_of(data["end"]):
            raise ma.ValidationError("Must be after start.", field_name="end")


class WorkingIntervalSchema(LocalIntervalSchema):
    weekday = ma.fields.Integer(
        strict=True,
        required=True,
        validate=ma.validate.Range(min=1, max=7),
        metadata={"description": "ISO weekday: 1 = Monday … 7 = Sunday.", "example": 1},
    )

    class Meta(Schema.Meta):
        fields = ("weekday", "start", "end")


def overlap_errors(intervals: list[dict[str, Any]], same_day: Any) -> dict[int, list[str]]:
    """Index → "Overlaps interval i" for each interval overlapping an earlier one of its day."""
    found: dict[int, list[str]] = {}
    for j, later in enumerate(intervals):
        for i in range(j):
            earlier = intervals[i]
            if not same_day(earlier, later):
                continue
            if minutes_of(earlier["start"]) < minutes_of(later["end"]) and minutes_of(
                later["start"]
            ) < minutes_of(earlier["end"]):
                found.setdefault(j, []).append(f"Overlaps interval {i}.")
    return found


class WorkingHoursUpdateSchema(Schema):
    """The whole week wrapped in an object (the admin's forms); the API takes a bare list."""

    intervals = ma.fields.List(
        ma.fields.Nested(WorkingIntervalSchema),
        required=True,
        validate=ma.validate.Length(max=MAX_WEEK_INTERVALS),
        metadata={
            "description": "Local wall-clock intervals in the business's time zone; several "
            "per day allowed. Overlaps within a day → 422 with the later interval's index: "
            '`errors: {"intervals": {"2": ["Overlaps interval 1."]}}`.'
        },
    )

    @ma.validates_schema(skip_on_field_errors=True)
    def _no_overlap(self, data: dict[str, Any], **kwargs: Any) -> None:
        found = overlap_errors(data["intervals"], lambda a, b: a["weekday"] == b["weekday"])
        if found:
            raise ma.ValidationError({"intervals": found})


class DateOverrideUpdateSchema(Schema):
    """One date's intervals wrapped in an object (the admin's forms); the API takes a list."""

    intervals = ma.fields.List(
        ma.fields.Nested(LocalIntervalSchema),
        required=True,
        validate=ma.validate.Length(max=MAX_DAY_INTERVALS),
        metadata={
            "description": "Local wall-clock intervals; an empty list means a day off. "
            'Overlaps → 422 `errors: {"intervals": {"1": ["Overlaps interval 0."]}}`.'
        },
    )

    @ma.validates_schema(skip_on_field_errors=True)
    def _no_overlap(self, data: dict[str, Any], **kwargs: Any) -> None:
        found = overlap_errors(data["intervals"], lambda a, b: True)
        if found:
            raise ma.ValidationError({"intervals": found})


class _IntervalListSchema(Schema):
    """A list body (load with `many=True`): at most `max_items` intervals, none overlapping.

    Overlaps → 422 naming the later interval's index: `{"2": ["Overlaps interval 1."]}`.
    """

    max_items = MAX_WEEK_INTERVALS

    @staticmethod
    def same_day(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return True

    @ma.pre_load(pass_collection=True)
    def _a_bounded_list(self, data: Any, many: bool, **kwargs: Any) -> Any:
        # A missing body reaches the schema as {}: never read it as "no intervals".
        if many and not isinstance(data, list):
            raise ma.ValidationError("A JSON array of intervals is required.")
        if many and len(data) > self.max_items:
            raise ma.ValidationError(f"At most {self.max_items} intervals.")
        return data

    @ma.validates_schema(pass_collection=True, skip_on_field_errors=True)
    def _no_overlap(self, data: Any, many: bool, **kwargs: Any) -> None:
        if not many:
            return
        found = overlap_errors(list(data), self.same_day)
        if found:
            raise ma.ValidationError({str(i): messages for i, messages in found.items()})

    def handle_error(self, error: ma.ValidationError, data: Any, **kwargs: Any) -> None:
        # Item errors are keyed by index: as strings, like every other error key.
        messages = error.messages
        if isinstance(messages, dict):
            error = ma.ValidationError(
                {str(key): value for key, value in messages.items()},
                data=error.data,
                valid_data=error.valid_data,
            )
        raise error


class WorkingWeekSchema(_IntervalListSchema, WorkingIntervalSchema):
    """The whole week as the bare list API.md shows, replacing the previous one (`[]`: none).

    `[{"weekday": 1, "start": "09:00", "end": "13:00"}, …]`: ISO weekdays, local wall-clock
    times in the business's time zone, several intervals a day; overlaps within a day → 422.
    """

    max_items = MAX_WEEK_INTERVALS

    class Meta(WorkingIntervalSchema.Meta):
        pass

    @staticmethod
    def same_day(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return bool(a["weekday"] == b["weekday"])


class DayIntervalsSchema(_IntervalListSchema, LocalIntervalSchema):
    """One local date's intervals as a bare list, replacing the weekly hours; `[]` = day off."""

    max_items = MAX_DAY_INTERVALS


class DateOverrideSchema(Schema):
    date = ma.fields.Date(attribute="day", metadata={"example": "2027-03-02"})
    intervals = ma.fields.List(
        ma.fields.Nested(LocalIntervalSchema),
        metadata={"description": "Sorted by start; empty means a day off."},
    )


class DateOverrideQueryArgsSchema(QuerySchema):
    from_ = LocalDate(
        data_key="from",
        metadata={
            "description": "First local date (default: today in the business's zone, or "
            f"{MAX_OVERRIDE_RANGE_DAYS} days before `to` when only `to` is given)."
        },
    )
    to = LocalDate(
        metadata={
            "description": f"Last local date, inclusive (default and maximum: "
            f"{MAX_OVERRIDE_RANGE_DAYS} days from `from`)."
        }
    )

    @ma.validates_schema(skip_on_field_errors=True)
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start and end:
            if end < start:
                raise ma.ValidationError("Must not be before from.", field_name="to")
            if (end - start).days >= MAX_OVERRIDE_RANGE_DAYS:
                raise ma.ValidationError(
                    f"At most {MAX_OVERRIDE_RANGE_DAYS} days from `from`.", field_name="to"
                )


# --- time off and closures ----------------------------------------------------------------------


class _PeriodInSchema(Schema):
    @ma.validates_schema(skip_on_field_errors=True)
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "starts_at" in data and "ends_at" in data and data["starts_at"] >= data["ends_at"]:
            raise ma.ValidationError("Must be after starts_at.", field_name="ends_at")


def _period_fields(create: bool) -> dict[str, ma.fields.Field]:
    return {
        "starts_at": Instant(
            required=create,
            metadata={
                "description": "RFC 3339 with an offset.",
                "example": "2027-03-30T00:00:00+01:00",
            },
        ),
        "ends_at": Instant(
            required=create,
            metadata={"description": "RFC 3339 with an offset; after starts_at (exclusive end)."},
        ),
        "reason": Str(500, allow_none=True, **({"load_default": None} if create else {})),
    }


TimeOffCreateSchema = _PeriodInSchema.from_dict(_period_fields(True), name="TimeOffCreateSchema")
TimeOffUpdateSchema = _PeriodInSchema.from_dict(_period_fields(False), name="TimeOffUpdateSchema")
ClosureCreateSchema = _PeriodInSchema.from_dict(_period_fields(True), name="ClosureCreateSchema")
ClosureUpdateSchema = _PeriodInSchema.from_dict(_period_fields(False), name="ClosureUpdateSchema")


class ClosureSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    starts_at = TenantDateTime(metadata={"description": "With the business's UTC offset then."})
    ends_at = TenantDateTime()
    reason = ma.fields.String(allow_none=True)
    created_at = TenantDateTime(dump_only=True)
    updated_at = TenantDateTime(dump_only=True)


class TimeOffSchema(ClosureSchema):
    staff_id = ma.fields.UUID(dump_only=True)

    class Meta(Schema.Meta):
        fields = ("id", "staff_id", "starts_at", "ends_at", "reason", "created_at", "updated_at")


class PeriodQueryArgsSchema(QuerySchema):
    """Periods overlapping `[from, to)`: instants, or local dates (`to` inclusive)."""

    from_ = InstantOrDate(
        data_key="from",
        metadata={
            "description": "RFC 3339 instant with offset, or a local date (its start).",
            "type": "string",
            "maxLength": InstantOrDate.MAX_LENGTH,
        },
    )
    to = InstantOrDate(
        metadata={
            "description": "RFC 3339 instant with offset (exclusive), or a local date "
            "(inclusive: up to its end).",
            "type": "string",
            "maxLength": InstantOrDate.MAX_LENGTH,
        }
    )
