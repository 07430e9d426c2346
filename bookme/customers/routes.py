"""Customer endpoints: /customers, consents, history, GDPR export and erasure."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest.pagination import PaginationParameters

from bookme.core import clock
from bookme.core.api import Blueprint
from bookme.core.errors import PROBLEM_MIMETYPE
from bookme.customers import service
from bookme.customers.schemas import (
    ConsentEventSchema,
    CustomerBookingSchema,
    CustomerConflictSchema,
    CustomerCreateSchema,
    CustomerExportSchema,
    CustomerQueryArgsSchema,
    CustomerSchema,
    CustomerUpdateSchema,
)
from bookme.users import access

blp = Blueprint(
    "customers",
    __name__,
    description=(
        "Customers of the business: records, consents, search, history, GDPR export and "
        "erasure. Owners and managers only (a `staff` member gets 403). A phone or email "
        "already held by another active customer → 409 `phone_taken` / `email_taken` with "
        "that customer's id in `existing_id` (and in `detail`). Writing to a deleted or "
        "erased customer → 409 `conflict`."
    ),
)

MANAGERS = access.MANAGERS  # customers hold personal data: staff members have no access

contact_taken = blp.alt_response(
    409,
    schema=CustomerConflictSchema,
    content_type=PROBLEM_MIMETYPE,
    description=(
        "Conflict: `phone_taken` or `email_taken` (another active customer has this contact; "
        "its id is in `existing_id`), or `conflict` (the customer was deleted or erased)"
    ),
)


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


def _known_customer(customer_id: uuid.UUID) -> None:
    service.get_customer(customer_id=customer_id)


@blp.route("/customers")
@access.member(*MANAGERS)
@blp.arguments(CustomerQueryArgsSchema, location="query")
@blp.response(200, CustomerSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_customers(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
    """Search customers by name, phone or email, and by tag; sorted by name.

    Deleted and erased customers are not listed.
    """
    return service.search_customers(
        tenant=access.current_tenant(),
        q=args.get("q"),
        tags=args.get("tag") or (),
        pagination=pagination_parameters,
    )


@blp.route("/customers", methods=["POST"])
@access.member(*MANAGERS)
@blp.arguments(CustomerCreateSchema)
@blp.response(201, CustomerSchema)
@blp.problems(400, 401, 403, 404, 422)
@contact_taken
def create_customer(data: dict[str, Any]) -> Any:
    """Create a customer (owner, manager); consents given are recorded with source `staff`."""
    return service.create_customer(**_ctx(), now=clock.now(), **data)


@blp.route("/customers/<uuid:customer_id>")
@access.member(*MANAGERS)
@blp.response(200, CustomerSchema)
@blp.problems(400, 401, 403, 404)
def get_customer(customer_id: uuid.UUID) -> Any:
    """Get a customer, deleted or erased ones included (their bookings still point at them)."""
    return service.get_customer(customer_id=customer_id)


@blp.route("/customers/<uuid:customer_id>", methods=["PATCH"])
@access.member(*MANAGERS)
@access.found(_known_customer)
@blp.arguments(CustomerUpdateSchema)
@blp.response(200, CustomerSchema)
@blp.problems(400, 401, 403, 404, 422)
@contact_taken
def update_customer(data: dict[str, Any], customer_id: uuid.UUID) -> Any:
    """Update a customer (owner, manager): the fields given; `null` clears phone, email, notes.

    A changed consent is appended to the consent history with source `staff`.
    """
    return service.update_customer(**_ctx(), now=clock.now(), customer_id=customer_id, changes=data)


@blp.route("/customers/<uuid:customer_id>", methods=["DELETE"])
@access.member(*MANAGERS)
@blp.response(204)
@blp.problems(400, 401, 403, 404)
def delete_customer(customer_id: uuid.UUID) -> Any:
    """Delete a customer (owner, manager): hidden from lists, history kept. Idempotent."""
    service.delete_customer(**_ctx(), now=clock.now(), customer_id=customer_id)


@blp.route("/customers/<uuid:customer_id>/consents")
@access.member(*MANAGERS)
@blp.response(200, ConsentEventSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_consents(customer_id: uuid.UUID, pagination_parameters: PaginationParameters) -> Any:
    """The customer's consent history, oldest first."""
    return service.list_consent_events(customer_id=customer_id, pagination=pagination_parameters)


@blp.route("/customers/<uuid:customer_id>/bookings")
@access.member(*MANAGERS)
@blp.response(200, CustomerBookingSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404, 422)
def list_bookings(customer_id: uuid.UUID, pagination_parameters: PaginationParameters) -> Any:
    """The customer's bookings, newest first."""
    return service.list_customer_bookings(
        tenant=access.current_tenant(), customer_id=customer_id, pagination=pagination_parameters
    )


@blp.route("/customers/<uuid:customer_id>/export")
@access.member(*MANAGERS)
@blp.response(200, CustomerExportSchema)
@blp.problems(400, 401, 403, 404)
def export_customer(customer_id: uuid.UUID) -> Any:
    """Everything held about the customer, as one JSON document (owner, manager).

    The record, the consent history, the customer's audit trail, and what other modules
    hold (bookings, notifications, payments) under `sections`. The export is itself audited.
    """
    return service.export_customer(**_ctx(), now=clock.now(), customer_id=customer_id)


@blp.route("/customers/<uuid:customer_id>/erase", methods=["POST"])
@access.member(*MANAGERS)
@access.found(_known_customer)
@blp.no_body()
@blp.response(204)
@blp.problems(400, 401, 403, 404)
def erase_customer(customer_id: uuid.UUID) -> Any:
    """Erase the customer's personal data (GDPR; owner, manager). Idempotent.

    Name, phone, email, notes and tags are replaced by an anonymised placeholder; bookings
    and payments stay, linked to the anonymised customer; an audit event is written.
    """
    service.erase_customer(**_ctx(), now=clock.now(), customer_id=customer_id)
