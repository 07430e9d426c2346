"""Query and response schemas of the availability endpoints."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from bookme.core.api import LocalDate, QuerySchema, Schema, TenantDateTime


class AvailabilityQueryArgsSchema(QuerySchema):
    service_id = ma.fields.UUID(required=True)
    date_from = LocalDate(
        bounded=False,
        required=True,
        data_key="from",
        metadata={"description": "First local date (YYYY-MM-DD), inclusive."},
    )
    date_to = LocalDate(
        bounded=False,
        required=True,
        data_key="to",
        metadata={
            "description": "Last local date (YYYY-MM-DD), inclusive; at most 62 days from `from`."
        },
    )
    staff_id = ma.fields.UUID(
        metadata={"description": "Only this staff member; omitted: every qualified one."},
    )


class SlotSchema(Schema):
    starts_at = TenantDateTime(metadata={"description": "With the tenant's offset then."})
    ends_at = TenantDateTime()
    staff_ids = ma.fields.List(
        ma.fields.UUID(),
        metadata={"description": "Staff free at this time, by display name."},
    )


class RenderedSlots(ma.fields.List):
    """Slots the service already rendered as JSON values: documented as a list of
    `SlotSchema`, passed through as they are (a week of slots is thousands of values)."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


class AvailabilitySchema(Schema):
    service_id = ma.fields.UUID()
    timezone = ma.fields.String(metadata={"example": "Africa/Casablanca"})
    date_from = ma.fields.Date(data_key="from", attribute="from")
    date_to = ma.fields.Date(data_key="to", attribute="to")
    slots = RenderedSlots(
        ma.fields.Nested(SlotSchema), metadata={"description": "Ordered by `starts_at`."}
    )
