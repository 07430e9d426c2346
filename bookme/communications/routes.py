"""Notification endpoints: settings, templates (with preview), the outbox and retries."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest.pagination import PaginationParameters

from bookme.communications import service
from bookme.communications.schemas import (
    NotificationPreviewSchema,
    NotificationQueryArgsSchema,
    NotificationSchema,
    NotificationSettingsSchema,
    NotificationSettingsUpdateSchema,
    NotificationTemplatePreviewSchema,
    NotificationTemplateSchema,
    NotificationTemplateUpdateSchema,
)
from bookme.core import clock
from bookme.core.api import Blueprint
from bookme.users import access

blp = Blueprint(
    "notifications",
    __name__,
    description=(
        "Confirmations and reminders by WhatsApp, SMS and email: the tenant's settings, its "
        "templates (per event, channel and locale, with shipped defaults in fr, ar and en) and "
        "the outbox with each message's delivery status. Owners and managers only. Template "
        "variables: customer_name, business_name, service_name, staff_name, date, time, "
        "starts_at, duration_minutes, price, currency, manage_url."
    ),
)

MANAGERS = access.MANAGERS
TEMPLATE = "/notification-templates/<string:event>/<string:channel>/<string:locale>"


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor(), "now": clock.now()}


@blp.route("/notification-settings")
@access.member(*MANAGERS)
@blp.response(200, NotificationSettingsSchema)
@blp.problems(400, 401, 403, 404)
def get_settings() -> Any:
    """The tenant's notification settings (defaults until changed)."""
    return service.get_settings(tenant=access.current_tenant())


@blp.route("/notification-settings", methods=["PUT"])
@access.member(*MANAGERS)
@blp.arguments(NotificationSettingsUpdateSchema)
@blp.response(200, NotificationSettingsSchema)
@blp.problems(400, 401, 403, 404, 422)
def put_settings(data: dict[str, Any]) -> Any:
    """Change notification settings: the fields given are set, the others kept."""
    return service.update_settings(**_ctx(), changes=data)


@blp.route("/notification-templates")
@access.member(*MANAGERS)
@blp.response(200, NotificationTemplateSchema(many=True))
@blp.problems(400, 401, 403, 404)
def list_templates() -> Any:
    """Every template in force (event x channel x locale), unpaginated; `is_default` says whose."""
    return service.list_templates(tenant=access.current_tenant())


@blp.route(TEMPLATE, methods=["PUT"])
@access.member(*MANAGERS)
@access.found(service.check_template_key)
@blp.arguments(NotificationTemplateUpdateSchema)
@blp.response(200, NotificationTemplateSchema)
@blp.problems(400, 401, 403, 404, 422)
def put_template(data: dict[str, Any], event: str, channel: str, locale: str) -> Any:
    """Replace a template; a syntax error or an unknown variable → 422 naming it.

    `subject` is for email only; `content_sid` and `content_variables` for WhatsApp only.
    """
    return service.put_template(**_ctx(), event=event, channel=channel, locale=locale, data=data)


@blp.route(TEMPLATE, methods=["DELETE"])
@access.member(*MANAGERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404)
def delete_template(event: str, channel: str, locale: str) -> Any:
    """Go back to the shipped default."""
    service.delete_template(**_ctx(), event=event, channel=channel, locale=locale)


@blp.route(TEMPLATE + "/preview", methods=["POST"])
@access.member(*MANAGERS)
@access.found(service.check_template_key)
@blp.arguments(NotificationTemplatePreviewSchema)
@blp.response(200, NotificationPreviewSchema)
@blp.problems(400, 401, 403, 404, 422)
def preview_template(data: dict[str, Any], event: str, channel: str, locale: str) -> Any:
    """Render a template with sample data: the one given in the body, else the one in force."""
    return service.preview_template(
        tenant=access.current_tenant(),
        now=clock.now(),
        event=event,
        channel=channel,
        locale=locale,
        data=data,
    )


@blp.route("/notifications")
@access.member(*MANAGERS)
@blp.arguments(NotificationQueryArgsSchema, location="query")
@blp.response(200, NotificationSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_notifications(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """The outbox, newest first; filter by booking, customer, event, channel or status."""
    return service.list_notifications(
        tenant=access.current_tenant(), args=args, pagination=pagination_parameters
    )


@blp.route("/bookings/<uuid:booking_id>/notifications")
@access.member(*MANAGERS)
@blp.response(200, NotificationSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_booking_notifications(
    booking_id: uuid.UUID, pagination_parameters: PaginationParameters
) -> Any:
    """The messages about one booking, newest first."""
    return service.list_booking_notifications(
        tenant=access.current_tenant(), booking_id=booking_id, pagination=pagination_parameters
    )


def _known_notification(notification_id: uuid.UUID) -> None:
    service.get_notification(tenant=access.current_tenant(), notification_id=notification_id)


@blp.route("/notifications/<uuid:notification_id>/retry", methods=["POST"])
@access.member(*MANAGERS)
@access.found(_known_notification)
@blp.no_body()
@blp.response(202, NotificationSchema)
@blp.problems(400, 401, 403, 404, 409)
def retry_notification(notification_id: uuid.UUID) -> Any:
    """Queue a failed notification again; any other status → 409 `invalid_transition`."""
    return service.retry_notification(**_ctx(), notification_id=notification_id)
