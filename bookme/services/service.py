"""Catalog use cases: service categories and services.

Deleting a service emits `service_deleting(tenant, service_id, now)` first, inside the
transaction: a module holding bookings subscribes and raises `errors.Conflict` when future
active bookings depend on it (the catalog can't import bookings, which depend on it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_smorest.pagination import PaginationParameters

from bookme.core import errors, events, tenancy
from bookme.core.api import paginate
from bookme.core.db import session, transactional
from bookme.services.models import Service, ServiceCategory
from bookme.staff.models import Staff, staff_services

if TYPE_CHECKING:
    from bookme.users.access import Actor

SERVICE_DELETING = "service_deleting"

errors.on_constraint(
    "uq_service_categories_name",
    lambda: errors.Conflict("A category with this name already exists."),
)
errors.on_constraint(
    "uq_services_category_name",
    lambda: errors.Conflict("A service with this name already exists in this category."),
)
errors.on_constraint(
    "fk_services_category_id_service_categories",
    lambda: errors.Conflict("The category still holds services; move or delete them first."),
)


def fetch(model: Any, *criteria: Any, for_update: bool = False) -> Any:
    """One row of the current tenant, or None.

    Always a SELECT, never `Session.get`: the identity map is keyed without the schema, so a
    session that has seen another tenant (a job looping over tenants, a test) could return
    that tenant's object without asking the database.
    """
    stmt = sa.select(model).where(*criteria)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session().scalars(stmt).one_or_none()


def delete_or_conflict(obj: Any, message: str) -> None:
    """Delete `obj` in a savepoint; a row still referencing it (a foreign key) → 409."""
    if not _deleted(obj):
        raise errors.Conflict(message)


def delete_or_archive(obj: Service | Staff, now: datetime) -> None:
    """Delete a service or staff member whose future active bookings are gone (the caller
    checked), or, while past or cancelled bookings still name it, mark it deleted: inactive,
    out of its category, performing nothing, linked to no user; the catalog's reads and the
    availability SQL then pass it by, and those bookings keep what they refer to."""
    if _deleted(obj):
        return
    obj.deleted_at = now
    obj.is_active = False
    if isinstance(obj, Service):
        obj.category_id = None
        session().execute(sa.delete(staff_services).where(staff_services.c.service_id == obj.id))
    else:
        obj.user_id = None
        obj.services = []
    session().flush()


def _deleted(obj: Any) -> bool:
    """Whether `obj` could be deleted (in a savepoint): False when a foreign key holds it."""
    sess = session()
    try:
        with sess.begin_nested():
            sess.delete(obj)
            sess.flush()
    except sa.exc.IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == "23503":
            return False
        raise
    return True


# --- categories ---------------------------------------------------------------------------------


def list_categories(
    *, tenant: tenancy.TenantRef, actor: Actor, pagination: PaginationParameters
) -> list[ServiceCategory]:
    stmt = sa.select(ServiceCategory).order_by(
        ServiceCategory.position, ServiceCategory.name, ServiceCategory.id
    )
    return paginate(stmt, pagination)


def get_category(
    *, tenant: tenancy.TenantRef, actor: Actor, category_id: uuid.UUID
) -> ServiceCategory:
    category = fetch(ServiceCategory, ServiceCategory.id == category_id)
    if category is None:
        raise errors.NotFound("No such service category.")
    return category


def _check_category_name(name: str, exclude: uuid.UUID | None = None) -> None:
    stmt = sa.select(ServiceCategory.id).where(sa.func.lower(ServiceCategory.name) == name.lower())
    if exclude is not None:
        stmt = stmt.where(ServiceCategory.id != exclude)
    if session().scalar(stmt) is not None:
        raise errors.Conflict(f"A category named {name!r} already exists.")


@transactional
def create_category(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, data: dict[str, Any]
) -> ServiceCategory:
    _check_category_name(data["name"])
    category = ServiceCategory(**data)
    session().add(category)
    session().flush()
    return category


@transactional
def update_category(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    category_id: uuid.UUID,
    data: dict[str, Any],
) -> ServiceCategory:
    category = get_category(tenant=tenant, actor=actor, category_id=category_id)
    if "name" in data:
        _check_category_name(data["name"], exclude=category.id)
    for key, value in data.items():
        setattr(category, key, value)
    session().flush()
    return category


@transactional
def delete_category(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, category_id: uuid.UUID
) -> None:
    """A category holding services can't be deleted (409): move or delete its services first."""
    category = get_category(tenant=tenant, actor=actor, category_id=category_id)
    count = session().scalar(
        sa.select(sa.func.count()).select_from(Service).where(Service.category_id == category.id)
    )
    if count:
        raise errors.Conflict(
            f"The category still holds {count} service(s); move or delete them first."
        )
    delete_or_conflict(category, "The category is still in use.")


# --- services -----------------------------------------------------------------------------------


def list_services(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    pagination: PaginationParameters,
    is_active: bool | None = None,
    category_id: uuid.UUID | None = None,
) -> list[Service]:
    """By category position and name (uncategorised last), then by name."""
    stmt = (
        sa.select(Service)
        .outerjoin(ServiceCategory, ServiceCategory.id == Service.category_id)
        .order_by(
            ServiceCategory.position.asc().nulls_last(),
            ServiceCategory.name.asc().nulls_last(),
            Service.name,
            Service.id,
        )
    )
    stmt = stmt.where(Service.deleted_at.is_(None))
    if is_active is not None:
        stmt = stmt.where(Service.is_active.is_(is_active))
    if category_id is not None:
        stmt = stmt.where(Service.category_id == category_id)
    return paginate(stmt, pagination)


def get_service(*, tenant: tenancy.TenantRef, actor: Actor, service_id: uuid.UUID) -> Service:
    service = fetch(Service, Service.id == service_id, Service.deleted_at.is_(None))
    if service is None:
        raise errors.NotFound("No such service.")
    return service


def _check_category(category_id: uuid.UUID | None) -> None:
    if (
        category_id is not None
        and fetch(ServiceCategory, ServiceCategory.id == category_id) is None
    ):
        raise errors.validation_error({"category_id": ["No such service category."]})


def _check_service_name(
    name: str, category_id: uuid.UUID | None, exclude: uuid.UUID | None = None
) -> None:
    stmt = sa.select(Service.id).where(
        Service.deleted_at.is_(None),
        sa.func.lower(Service.name) == name.lower(),
        Service.category_id.is_(None)
        if category_id is None
        else Service.category_id == category_id,
    )
    if exclude is not None:
        stmt = stmt.where(Service.id != exclude)
    if session().scalar(stmt) is not None:
        raise errors.Conflict(f"A service named {name!r} already exists in this category.")


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    if "metadata" in values:
        values["metadata_"] = values.pop("metadata")
    return values


@transactional
def create_service(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, data: dict[str, Any]
) -> Service:
    values = _columns(data)
    values.setdefault("currency", tenant.currency)
    _check_category(values.get("category_id"))
    _check_service_name(values["name"], values.get("category_id"))
    service = Service(**values)
    _check_deposit(service, values)
    session().add(service)
    session().flush()
    return service


def _check_deposit(service: Service, given: dict[str, Any]) -> None:
    """A fixed deposit is part of the price: never more than it (422 on the field that made
    it so, the deposit or, when only that was given, the price)."""
    deposit, price = service.deposit_amount, service.price
    if deposit is None or price is None or deposit <= price:
        return
    if "payment" not in given and "price" in given:
        raise errors.validation_error({"price": ["Less than the service's deposit."]})
    raise errors.validation_error(
        {"payment": {"deposit_amount": ["More than the service's price."]}}
    )


@transactional
def update_service(
    *,
    tenant: tenancy.TenantRef,
    actor: Actor,
    now: datetime,
    service_id: uuid.UUID,
    data: dict[str, Any],
) -> Service:
    """Sets the fields given; deactivating (`is_active: false`) always works."""
    service = get_service(tenant=tenant, actor=actor, service_id=service_id)
    values = _columns(data)
    if "category_id" in values:
        _check_category(values["category_id"])
    if "name" in values or "category_id" in values:
        _check_service_name(
            values.get("name", service.name),
            values.get("category_id", service.category_id),
            exclude=service.id,
        )
    for key, value in values.items():
        setattr(service, key, value)
    _check_deposit(service, values)
    session().flush()
    return service


@transactional
def delete_service(
    *, tenant: tenancy.TenantRef, actor: Actor, now: datetime, service_id: uuid.UUID
) -> None:
    """409 when future active bookings depend on it; kept out of sight while past or
    cancelled bookings name it (`delete_or_archive`)."""
    service = get_service(tenant=tenant, actor=actor, service_id=service_id)
    events.emit(SERVICE_DELETING, tenant=tenant, service_id=service.id, now=now)
    delete_or_archive(service, now)
