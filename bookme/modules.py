"""The module registry: which blueprints the app mounts, in one place."""

from __future__ import annotations

from typing import Any


MODEL_MODULES = (
    "bookme.tenants.models",
    "bookme.users.models",
    "bookme.services.models",
    "bookme.staff.models",
    "bookme.customers.models",
    "bookme.bookings.models",
    "bookme.communications.models",
    "bookme.payments.models",
)


def import_models() -> None:
    """Import every module's models so the metadata is complete (migrations, provisioning)."""
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def API_BLUEPRINTS() -> list[Any]:  # noqa: N802
    """flask-smorest blueprints mounted under /api/v1."""
    from bookme.bookings.availability_routes import blp as availability
    from bookme.bookings.routes import blp as bookings
    from bookme.communications.routes import blp as notifications
    from bookme.customers.routes import blp as customers
    from bookme.payments.routes import blp as payments
    from bookme.services.routes import blp as catalog
    from bookme.staff.routes import blp as staff
    from bookme.tenants.routes import blp as tenants
    from bookme.users.routes import blp as users

    return [users, tenants, catalog, staff, customers, bookings, availability, notifications,
            payments]


def WEB_BLUEPRINTS() -> list[Any]:  # noqa: N802
    """Plain Flask blueprints (webhooks, admin, the manage page, the account emails' pages)."""
    from bookme.account import blp as account
    from bookme.admin import blp as admin
    from bookme.communications.webhooks import blp as twilio_webhooks
    from bookme.manage import blp as manage
    from bookme.payments.webhooks import blp as payment_webhooks

    return [twilio_webhooks, payment_webhooks, admin, manage, account]
