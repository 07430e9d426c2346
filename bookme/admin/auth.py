"""Who is signed in to the admin, in which business and with which role.

The session cookie holds the user's id, a stamp of their password hash (a password change
signs every admin session out), the business chosen and the language. Each request reloads
the user and their memberships, so a removed membership or a deactivated account takes
effect at once. Roles mean what they mean in the API (API.md): `PERMISSIONS` names what a
page may show or do, and the same names guard the views, so a hidden control is also a 403.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import g, session

from bookme.core import errors, tenancy
from bookme.core.db import session as db_session
from bookme.tenants.models import Tenant
from bookme.tenants.service import to_ref
from bookme.users.access import MANAGERS, Actor
from bookme.users.models import ROLES, Membership, User

F = TypeVar("F", bound=Callable[..., Any])

USER_KEY = "uid"
STAMP_KEY = "stamp"
TENANT_KEY = "tenant"
LANGUAGE_KEY = "lang"

OWNER = ("owner",)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "calendar.everyone": MANAGERS,  # staff see their own column and week only
    "bookings.create": ROLES,
    "bookings.change_any": MANAGERS,  # staff change only their own bookings
    "customers.read": ROLES,
    "customers.write": MANAGERS,
    "customers.export": MANAGERS,
    "customers.erase": MANAGERS,
    "catalog.read": ROLES,
    "catalog.write": MANAGERS,
    "staff.write": MANAGERS,
    "schedules.everyone": MANAGERS,  # staff see and change their own schedule only
    "closures.write": MANAGERS,
    "notifications.read": MANAGERS,
    "notifications.write": MANAGERS,
    "payments.read": MANAGERS,  # the API lists payments for owners and managers
    "payments.refund": MANAGERS,
    "payments.settings": MANAGERS,
    "settings.read": ROLES,
    "tenant.write": OWNER,
    "members.manage": OWNER,
}


def password_stamp(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MembershipView:
    slug: str
    name: str
    role: str
    active: bool


@dataclass
class AdminContext:
    """The signed-in user, their businesses, and the one they are working in."""

    user_id: uuid.UUID
    email: str
    full_name: str
    is_operator: bool
    memberships: list[MembershipView]
    tenant: tenancy.TenantRef | None = None
    tenant_name: str | None = None
    role: str | None = None
    operating: bool = False  # in this business through operator rights, not a membership
    _own_staff: list[uuid.UUID | None] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        """What services record: the user's own identity (an operator's too) and the role."""
        return Actor(kind="user", user_id=self.user_id, email=self.email, role=self.role)

    def can(self, permission: str) -> bool:
        return self.role is not None and self.role in PERMISSIONS[permission]

    @property
    def own_staff_id(self) -> uuid.UUID | None:
        """The staff row linked to this user in the current business (one query, then kept)."""
        if not self._own_staff:
            from bookme.bookings.service import own_staff_id

            self._own_staff.append(own_staff_id(self.actor))
        return self._own_staff[0]

    def may_change_booking(self, staff_id: uuid.UUID) -> bool:
        """What `bookings.service` enforces, for deciding which controls to show."""
        return self.can("bookings.change_any") or (
            self.role == "staff" and staff_id == self.own_staff_id
        )

    def may_see_schedule(self, staff_id: uuid.UUID) -> bool:
        return self.can("schedules.everyone") or staff_id == self.own_staff_id

    @property
    def switchable(self) -> list[MembershipView]:
        return [m for m in self.memberships if m.active]


def current() -> AdminContext:
    ctx: AdminContext | None = g.get("admin")
    if ctx is None:
        raise errors.Unauthorized("Sign in first.")
    return ctx


def sign_in(user: User) -> None:
    """A fresh session (no fixation) for `user`; the language chosen before is kept."""
    language = session.get(LANGUAGE_KEY)
    session.clear()
    session.permanent = True
    session[USER_KEY] = str(user.id)
    session[STAMP_KEY] = password_stamp(user)
    if language:
        session[LANGUAGE_KEY] = language


def sign_out() -> None:
    language = session.get(LANGUAGE_KEY)
    session.clear()
    if language:
        session[LANGUAGE_KEY] = language


def _user() -> User | None:
    raw = session.get(USER_KEY)
    try:
        user_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    user = db_session().scalar(sa.select(User).where(User.id == user_id))
    if user is None or not user.is_active or password_stamp(user) != session.get(STAMP_KEY):
        return None
    return user


def load() -> AdminContext | None:
    """The signed-in user's context, the chosen business made current; None if signed out."""
    user = _user()
    if user is None:
        if USER_KEY in session:
            sign_out()
        return None
    rows = (
        db_session()
        .execute(
            sa.select(Tenant, Membership.role)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id)
            .order_by(sa.func.lower(Tenant.name), Tenant.slug)
        )
        .all()
    )
    ctx = AdminContext(
        user_id=user.id,
        email=user.email,
        full_name=user.full_name,
        is_operator=user.is_operator,
        memberships=[MembershipView(t.slug, t.name, r, t.status == "active") for t, r in rows],
    )
    wanted = session.get(TENANT_KEY)
    chosen: Tenant | None = None
    role: str | None = None
    if wanted:
        chosen, role = next(((t, r) for t, r in rows if t.slug == wanted), (None, None))
        if chosen is None and user.is_operator:
            chosen = db_session().scalar(sa.select(Tenant).where(Tenant.slug == wanted))
    if chosen is not None and chosen.status != "active":
        chosen = None  # suspended since it was chosen: fall back to one that works
    if chosen is None:
        chosen, role = next(((t, r) for t, r in rows if t.status == "active"), (None, None))
    if chosen is not None and chosen.status == "active":
        if user.is_operator and role != "owner":
            # Operators act with full rights wherever they go; services record who they are.
            role, ctx.operating = "owner", True
        ctx.tenant, ctx.tenant_name, ctx.role = to_ref(chosen), chosen.name, role
        tenancy.activate(ctx.tenant)
    g.actor = ctx.actor
    return ctx


def choose_tenant(ctx: AdminContext, slug: str) -> None:
    """Remember `slug` as the business to work in: a member's, or any for an operator."""
    member = any(m.slug == slug and m.active for m in ctx.memberships)
    if not member and not ctx.is_operator:
        raise errors.Forbidden("You are not a member of this business.")
    if not member:
        found = db_session().scalar(sa.select(Tenant.status).where(Tenant.slug == slug))
        if found is None:
            raise errors.NotFound("No such business.")
        if found != "active":
            raise errors.TenantSuspended("This business is suspended.")
    session[TENANT_KEY] = slug


# --- view decorators ----------------------------------------------------------------------------


def requires(permission: str | None = None, *, tenant: bool = True) -> Callable[[F], F]:
    """A signed-in user (the blueprint checks that), in a business unless `tenant=False`,
    whose role grants `permission`; else 403."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = current()
            if tenant and ctx.tenant is None:
                raise NoBusiness()
            if permission is not None and not ctx.can(permission):
                raise errors.Forbidden("Your role does not allow this.")
            return fn(*args, **kwargs)

        wrapper._admin_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


class NoBusiness(errors.BookMeError):
    """Signed in, but no business to work in yet (the page says how to get one)."""

    status = 409
    code = "no_business"
    title = "No business"
