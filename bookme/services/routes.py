"""Catalog endpoints: /service-categories and /services."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest.pagination import PaginationParameters

from bookme.core import clock
from bookme.core.api import Blueprint
from bookme.services import service
from bookme.services.schemas import (
    ServiceCategoryCreateSchema,
    ServiceCategorySchema,
    ServiceCategoryUpdateSchema,
    ServiceCreateSchema,
    ServiceQueryArgsSchema,
    ServiceSchema,
    ServiceUpdateSchema,
)
from bookme.users import access

blp = Blueprint(
    "catalog",
    __name__,
    description=(
        "The catalog: service categories and services. Any member reads it; owners and "
        "managers write it."
    ),
)

WRITERS = access.MANAGERS


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


def _known_category(category_id: uuid.UUID) -> None:
    service.get_category(**_ctx(), category_id=category_id)


def _known_service(service_id: uuid.UUID) -> None:
    service.get_service(**_ctx(), service_id=service_id)


# --- categories ---------------------------------------------------------------------------------


@blp.route("/service-categories")
@access.member()
@blp.response(200, ServiceCategorySchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_categories(pagination_parameters: PaginationParameters) -> Any:
    """List service categories, by position then name."""
    return service.list_categories(**_ctx(), pagination=pagination_parameters)


@blp.route("/service-categories", methods=["POST"])
@access.member(*WRITERS)
@blp.arguments(ServiceCategoryCreateSchema)
@blp.response(201, ServiceCategorySchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def create_category(data: dict[str, Any]) -> Any:
    """Create a service category (owner, manager); 409 when the name is taken."""
    return service.create_category(**_ctx(), now=clock.now(), data=data)


@blp.route("/service-categories/<uuid:category_id>")
@access.member()
@blp.response(200, ServiceCategorySchema)
@blp.problems(400, 401, 403, 404)
def get_category(category_id: uuid.UUID) -> Any:
    """Get a service category."""
    return service.get_category(**_ctx(), category_id=category_id)


@blp.route("/service-categories/<uuid:category_id>", methods=["PATCH"])
@access.member(*WRITERS)
@access.found(_known_category)
@blp.arguments(ServiceCategoryUpdateSchema)
@blp.response(200, ServiceCategorySchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def update_category(data: dict[str, Any], category_id: uuid.UUID) -> Any:
    """Update a service category (owner, manager): the fields given."""
    return service.update_category(**_ctx(), now=clock.now(), category_id=category_id, data=data)


@blp.route("/service-categories/<uuid:category_id>", methods=["DELETE"])
@access.member(*WRITERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404, 409)
def delete_category(category_id: uuid.UUID) -> Any:
    """Delete an empty service category (owner, manager).

    A category that still holds services → 409 `conflict`: move or delete them first.
    """
    service.delete_category(**_ctx(), now=clock.now(), category_id=category_id)


# --- services -----------------------------------------------------------------------------------


@blp.route("/services")
@access.member()
@blp.arguments(ServiceQueryArgsSchema, location="query")
@blp.response(200, ServiceSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_services(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """List services, by category position and name (uncategorised last), then name."""
    return service.list_services(**_ctx(), pagination=pagination_parameters, **args)


@blp.route("/services", methods=["POST"])
@access.member(*WRITERS)
@blp.arguments(ServiceCreateSchema)
@blp.response(201, ServiceSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def create_service(data: dict[str, Any]) -> Any:
    """Create a service (owner, manager); `currency` defaults to the business's."""
    return service.create_service(**_ctx(), now=clock.now(), data=data)


@blp.route("/services/<uuid:service_id>")
@access.member()
@blp.response(200, ServiceSchema)
@blp.problems(400, 401, 403, 404)
def get_service(service_id: uuid.UUID) -> Any:
    """Get a service."""
    return service.get_service(**_ctx(), service_id=service_id)


@blp.route("/services/<uuid:service_id>", methods=["PATCH"])
@access.member(*WRITERS)
@access.found(_known_service)
@blp.arguments(ServiceUpdateSchema)
@blp.response(200, ServiceSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def update_service(data: dict[str, Any], service_id: uuid.UUID) -> Any:
    """Update a service (owner, manager): the fields given. Deactivating always works."""
    return service.update_service(**_ctx(), now=clock.now(), service_id=service_id, data=data)


@blp.route("/services/<uuid:service_id>", methods=["DELETE"])
@access.member(*WRITERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404, 409)
def delete_service(service_id: uuid.UUID) -> Any:
    """Delete a service (owner, manager).

    409 `conflict` when future active bookings depend on it: deactivate it instead
    (`PATCH {"is_active": false}`). Past and cancelled bookings keep naming it; it is gone
    from everything else (404, not listed, not bookable) and its name is free again.
    """
    service.delete_service(**_ctx(), now=clock.now(), service_id=service_id)
