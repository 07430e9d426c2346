"""Words for the codes the services store (payment status, source, audit events, actors)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

PAYMENT = {
    "none": _l("nothing expected online"),
    "unpaid": _l("unpaid"),
    "deposit_paid": _l("deposit paid"),
    "paid": _l("paid"),
    "refunded": _l("refunded"),
}
SOURCE = {"admin": _l("the admin"), "api": _l("the API"), "public": _l("online booking")}
EVENT = {
    "created": _l("Created"),
    "confirmed": _l("Confirmed"),
    "rescheduled": _l("Rescheduled"),
    "cancelled": _l("Cancelled"),
    "completed": _l("Completed"),
    "no_show": _l("No-show"),
}


def payment_label(code: str) -> str:
    return str(PAYMENT.get(code, code))


def source_label(code: str) -> str:
    return str(SOURCE.get(code, code))


def event_label(code: str) -> str:
    return str(EVENT.get(code, code))


def actor_label(actor: dict[str, Any] | None) -> str:
    """Who did it: a member by email (and role), the customer, or the system."""
    actor = actor or {}
    kind = actor.get("kind")
    if kind == "user":
        who = actor.get("email") or actor.get("user_id") or "?"
        return f"{who} ({role_label(actor['role'])})" if actor.get("role") else str(who)
    if kind == "customer":
        return _("the customer")
    if kind == "provider":
        return _("the payment provider")
    return _("BookMe")


ROLE = {"owner": _l("Owner"), "manager": _l("Manager"), "staff": _l("Staff")}


def role_label(code: str) -> str:
    return str(ROLE.get(code, code))
