"""Tenant endpoints: /tenants, /tenants/{slug}, /tenants/{slug}/domains."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g
from flask_smorest.pagination import PaginationParameters

from bookme.core import clock, tenancy
from bookme.core.api import Blueprint
from bookme.tenants import service
from bookme.tenants.schemas import (
    TenantCreateSchema,
    TenantDomainCreateSchema,
    TenantDomainSchema,
    TenantSchema,
    TenantUpdateSchema,
)
from bookme.users import access
from bookme.users.models import ROLES

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "tenants",
    __name__,
    description=(
        "Tenants (businesses) and their domains. Any signed-in user may create a business and "
        "becomes its owner; members read it; owners change it."
    ),
)


def slug_member(*roles: str) -> Callable[[F], F]:
    """A member (holding one of `roles`) of the tenant named by the path's `{slug}`.

    Checked before the body is read, like `access.member`; the tenant becomes current.
    """
    allowed = roles or ROLES

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = access.current_actor()
            assert actor.user_id is not None
            tenant, role = service.authorize_member(
                slug=kwargs["slug"], user_id=actor.user_id, roles=allowed
            )
            g.actor = dataclasses.replace(actor, role=role)
            tenancy.activate(tenant)
            return fn(*args, **kwargs)

        checked = access.authenticated(wrapper)
        checked._bookme_access = ("slug_member", allowed)  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorator


def _ctx() -> dict[str, Any]:
    return {"tenant": access.current_tenant(), "actor": access.current_actor()}


@blp.route("/tenants")
@access.authenticated
@blp.response(200, TenantSchema(many=True))
@blp.paginate()
def list_tenants(pagination_parameters: PaginationParameters) -> Any:
    """List the businesses you are a member of"""
    return service.list_tenants(actor=access.current_actor(), pagination=pagination_parameters)


@blp.route("/tenants", methods=["POST"])
@access.authenticated
@blp.arguments(TenantCreateSchema)
@blp.response(201, TenantSchema)
@blp.problems(409)
def create_tenant(data: dict[str, Any]) -> Any:
    """Create a business; you become its owner

    Provisions the business's own database schema. 409 `slug_taken` when the slug is in use;
    reserved words and PostgreSQL schema names (`public`, `pg-…`) are refused with 422.
    """
    actor = access.current_actor()
    return service.create_tenant(**data, owner_id=actor.user_id, actor=actor, now=clock.now())


@blp.route("/tenants/<slug>")
@slug_member()
@blp.response(200, TenantSchema)
def get_tenant(slug: str) -> Any:
    """Get a business you are a member of, with its settings"""
    return service.get_tenant(tenant=access.current_tenant())


@blp.route("/tenants/<slug>", methods=["PATCH"])
@slug_member("owner")
@blp.arguments(TenantUpdateSchema)
@blp.response(200, TenantSchema)
def update_tenant(data: dict[str, Any], slug: str) -> Any:
    """Change a business's profile and booking rules

    The fields given change; `settings` merge setting by setting. `status` is not writable
    here (platform operators suspend and activate businesses).
    """
    return service.update_tenant(**_ctx(), now=clock.now(), changes=data)


@blp.route("/tenants/<slug>/domains")
@slug_member("owner")
@blp.response(200, TenantDomainSchema(many=True))
@blp.paginate()
def list_domains(pagination_parameters: PaginationParameters, slug: str) -> Any:
    """List a business's custom domains"""
    return service.list_domains(tenant=access.current_tenant(), pagination=pagination_parameters)


@blp.route("/tenants/<slug>/domains", methods=["POST"])
@slug_member("owner")
@blp.arguments(TenantDomainCreateSchema)
@blp.response(201, TenantDomainSchema)
@blp.problems(409)
def add_domain(data: dict[str, Any], slug: str) -> Any:
    """Register a custom domain for a business

    Requests whose Host is this domain address the business without `X-Tenant`, and
    browsers on it may call the API (CORS). 409 `domain_taken` when it is registered already.
    """
    return service.add_domain(
        **_ctx(),
        now=clock.now(),
        domain=data["domain"],
        base_domain=current_app.config["BOOKME"].base_domain,
    )


@blp.route("/tenants/<slug>/domains/<uuid:domain_id>", methods=["DELETE"])
@slug_member("owner")
@blp.response(204)
def remove_domain(slug: str, domain_id: uuid.UUID) -> None:
    """Remove a custom domain from a business"""
    service.remove_domain(**_ctx(), now=clock.now(), domain_id=domain_id)
