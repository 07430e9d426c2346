"""Who is calling: JWT authentication, tenant resolution and role checks, before any body."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from bookme.core import errors, tenancy
from bookme.core.db import session
from bookme.tenants import service as tenants
from bookme.users import tokens
from bookme.users.models import ROLES, User

F = TypeVar("F", bound=Callable[..., Any])

MANAGERS = ("owner", "manager")


@dataclass(frozen=True)
class Actor:
    """Who performs a use case; written into audit trails."""

    kind: str  # "user", "customer", "system", "provider"
    user_id: uuid.UUID | None = None
    email: str | None = None
    role: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "user":
            return f"user:{self.email or self.user_id}"
        return self.kind

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "user_id": str(self.user_id) if self.user_id else None,
            "email": self.email,
            "role": self.role,
        }


SYSTEM = Actor(kind="system")
CUSTOMER = Actor(kind="customer")


def current_actor() -> Actor:
    return g.get("actor") or SYSTEM


def current_tenant() -> tenancy.TenantRef:
    return tenancy.require()


# An auth scheme is case-insensitive (RFC 9110, 11.1); flask-jwt-extended compares the
# scheme with JWT_HEADER_TYPE exactly, so `bearer <token>` is spelled its way before it looks.
_BEARER = re.compile(r"(^|,)(\s*)bearer(?=\s)", re.IGNORECASE)


def _normalise_bearer_scheme() -> None:
    header = request.environ.get("HTTP_AUTHORIZATION")
    if header:
        request.environ["HTTP_AUTHORIZATION"] = _BEARER.sub(r"\1\2Bearer", header)


def _authenticate(refresh: bool = False, *, revocation_checked_later: bool = False) -> uuid.UUID:
    """The token's user id, once its signature, expiry and type are good. Its revocation is
    checked here too, unless the caller checks it itself (`revocation_checked_later`)."""
    _normalise_bearer_scheme()
    try:
        g.bookme_revocation_deferred = revocation_checked_later
        verify_jwt_in_request(refresh=refresh)
        claims = get_jwt()
        return uuid.UUID(str(claims["sub"]))
    except (JWTExtendedException, PyJWTError, KeyError, ValueError) as exc:
        raise errors.Unauthorized("A valid access token is required.") from exc
    finally:
        g.bookme_revocation_deferred = False


def resolve_tenant() -> tenancy.TenantRef:
    return _resolve_tenant()[0]


def _resolve_tenant(
    lateral: str | None = None,
    params: dict[str, Any] | None = None,
    *,
    refuse_suspended: bool = True,
) -> tuple[tenancy.TenantRef, Any]:
    """The request's tenant, made current, and the row of `lateral` asked in the same round
    trip (see `tenants.resolve_with`)."""
    settings = current_app.config["BOOKME"]
    tenant, row = tenants.resolve_with(
        request.host,
        request.headers.get("X-Tenant"),
        settings.base_domain,
        lateral=lateral,
        params=params,
        refuse_suspended=refuse_suspended,
    )
    tenancy.activate(tenant)
    request.environ[tenancy.RESOLVED] = tenant.id
    return tenant, row


def _user(user_id: uuid.UUID) -> User:
    user = session().get(User, user_id)
    if user is None or not user.is_active:
        raise errors.Unauthorized("A valid access token is required.")
    return user


def authenticated(fn: F) -> F:
    """A signed-in user; no tenant involved (`/me`, `/tenants`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = _user(_authenticate())
        g.user = user
        g.actor = Actor(kind="user", user_id=user.id, email=user.email)
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("authenticated", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def anonymous(fn: F) -> F:
    """No token and no tenant: sign-up, sign-in, password reset, email verification."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("anonymous", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def refresh_token(fn: F) -> F:
    """A valid, unrevoked refresh token as Bearer (`/auth/refresh`); no tenant involved."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user_id = _authenticate(refresh=True)
        g.actor = Actor(kind="user", user_id=user_id)
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("refresh_token", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def token_claims() -> dict[str, Any]:
    """The claims of the token the access decorator verified (jti, exp, `fam`)."""
    return get_jwt()


# The caller, its role in the tenant and whether its token is revoked, asked in the round trip
# that resolves the tenant (`found.id`); all NULL when the user does not exist.
_MEMBER = """
    SELECT u.email, u.is_active, m.role,
           EXISTS (SELECT 1 FROM public.token_revocations r
                    WHERE r.jti = ANY(CAST(:keys AS text[]))) AS revoked
      FROM public.users u
      LEFT JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = found.id
     WHERE u.id = :user_id
"""


def member(*roles: str) -> Callable[[F], F]:
    """A member of the request's tenant holding one of `roles` (any role when none given)."""
    allowed = roles or ROLES
    for role in allowed:
        if role not in ROLES:
            raise ValueError(role)

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user_id = _authenticate(revocation_checked_later=True)
            caller = {"user_id": user_id, "keys": tokens.revocation_keys(token_claims())}
            try:
                _, row = _resolve_tenant(_MEMBER, caller, refuse_suspended=False)
            except errors.BookMeError:
                if tokens.is_revoked(token_claims()):  # a revoked token is a 401 first
                    raise errors.Unauthorized("A valid access token is required.") from None
                raise
            if row.revoked or not row.is_active:  # NULL: no such user
                raise errors.Unauthorized("A valid access token is required.")
            if row.role is None:
                raise errors.Forbidden("You are not a member of this business.")
            # Members only learn that their business is suspended, whatever their role.
            tenants.refuse_if_suspended(row.status)
            if row.role not in allowed:
                raise errors.Forbidden("Your role does not allow this.")
            g.actor = Actor(kind="user", user_id=user_id, email=row.email, role=row.role)
            return fn(*args, **kwargs)

        wrapper._bookme_access = ("member", allowed)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def public(fn: F) -> F:
    """No token; the tenant comes from the Host or X-Tenant header."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        resolve_tenant()
        g.actor = CUSTOMER
        return fn(*args, **kwargs)

    wrapper._bookme_access = ("public", ())  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def found(lookup: Callable[..., Any]) -> Callable[[F], F]:
    """Placed under an access decorator: `lookup(**path_args)` runs before the body is read.

    The lookup raises NotFound (or Forbidden) for an object the caller cannot reach, so that
    answer comes first whatever the body holds (API.md: access before body validation).
    What it loaded is expired afterwards: the use case must read the rows it locks as they
    are then, not as this unlocked early read saw them.
    """

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lookup(**kwargs)
            session().expire_all()
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
