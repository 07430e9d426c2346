"""`flask bookme tenants create|list|suspend|activate|events`."""

from __future__ import annotations

import sqlalchemy as sa

from bookme.core.db import session
from bookme.tenants import service
from bookme.users.models import Membership, User
from tests.conftest import make_user


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["bookme", "tenants", *args], catch_exceptions=False)


def _events(slug):
    tenant = service.get_by_slug(slug)
    return [(e.type, e.actor, e.data) for e in service.events(tenant_id=tenant.id)]


def test_create_provisions_a_tenant_owned_by_an_existing_account(app, db):
    owner = make_user(email="nadia@example.com")
    result = _run(
        app,
        "create",
        "salon-nadia",
        "Salon Nadia",
        "Nadia@Example.com",
        "--timezone",
        "Europe/Paris",
        "--currency",
        "EUR",
        "--locale",
        "ar",
        "--cancellation-cutoff-hours",
        "12",
    )
    assert result.exit_code == 0, result.output
    assert "created tenant salon-nadia" in result.output
    tenant = service.get_by_slug("salon-nadia")
    assert (tenant.name, tenant.timezone, tenant.currency, tenant.locale) == (
        "Salon Nadia",
        "Europe/Paris",
        "EUR",
        "ar",
    )
    assert service.get_settings(tenant) == {"cancellation_cutoff_hours": 12}
    role = session().scalar(
        sa.select(Membership.role).where(
            Membership.tenant_id == tenant.id, Membership.user_id == owner.id
        )
    )
    assert role == "owner"
    [(kind, actor, data)] = _events("salon-nadia")
    assert (kind, data) == ("created", {"slug": "salon-nadia"})
    assert actor.startswith("cli")


def test_create_with_owner_name_creates_the_account_and_prints_its_password_once(app, db):
    result = _run(
        app, "create", "new-salon", "New Salon", "fresh@example.com", "--owner-name", "Fresh"
    )
    assert result.exit_code == 0, result.output
    assert "created the owner's account fresh@example.com" in result.output
    password = result.output.split("(shown once): ")[1].strip()
    assert len(password) >= 10
    user = session().scalar(sa.select(User).where(User.email == "fresh@example.com"))
    from bookme.users.passwords import verify_password

    assert verify_password(user.password_hash, password)


def test_create_for_an_unknown_owner_without_owner_name_fails_and_creates_nothing(app, db):
    result = app.test_cli_runner().invoke(
        args=["bookme", "tenants", "create", "lonely-salon", "Lonely", "nobody@example.com"]
    )
    assert result.exit_code != 0
    assert "no account nobody@example.com" in result.output
    assert service.get_by_slug("lonely-salon") is None


def test_create_with_a_reserved_slug_fails_with_the_reason(app, db):
    make_user(email="owner@example.com")
    result = app.test_cli_runner().invoke(
        args=["bookme", "tenants", "create", "pg-admin", "X", "owner@example.com"]
    )
    assert result.exit_code != 0
    assert "validation_error" in result.output
    assert "slug: This slug is reserved." in result.output


def test_create_with_a_short_owner_password_fails_and_creates_nothing(app, db):
    result = app.test_cli_runner().invoke(
        args=[
            "bookme",
            "tenants",
            "create",
            "pw-salon",
            "X",
            "pw@example.com",
            "--owner-name",
            "P",
            "--owner-password",
            "short",
        ]
    )
    assert result.exit_code != 0
    assert service.get_by_slug("pw-salon") is None
    assert session().scalar(sa.select(User).where(User.email == "pw@example.com")) is None


def test_list_shows_every_tenant_and_filters_by_status(app, db):
    make_user(email="o@example.com")
    for slug in ("bravo-salon", "alpha-salon"):
        assert _run(app, "create", slug, slug.title(), "o@example.com").exit_code == 0
    _run(app, "suspend", "bravo-salon")
    mine = ("alpha-salon", "bravo-salon")  # other tests may have left committed tenants
    listed = _run(app, "list").output.splitlines()
    rows = [line.split() for line in listed[:-1]]
    assert [row[0] for row in rows if row[0] in mine] == ["alpha-salon", "bravo-salon"]
    assert [row[1] for row in rows if row[0] in mine] == ["active", "suspended"]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert listed[-1] == f"{len(rows)} tenant(s)"
    suspended = _run(app, "list", "--status", "suspended").output.splitlines()
    slugs = [line.split()[0] for line in suspended[:-1]]
    assert "bravo-salon" in slugs
    assert "alpha-salon" not in slugs


def test_suspend_and_activate_change_status_and_are_recorded(app, db):
    make_user(email="o@example.com")
    _run(app, "create", "cycle-salon", "Cycle", "o@example.com")
    result = _run(app, "suspend", "cycle-salon", "--reason", "unpaid invoice")
    assert result.output.strip() == "cycle-salon is suspended"
    assert service.get_by_slug("cycle-salon").status == "suspended"
    assert _run(app, "activate", "cycle-salon").output.strip() == "cycle-salon is active"
    kinds = [(kind, data) for kind, _, data in _events("cycle-salon")]
    assert kinds == [
        ("created", {"slug": "cycle-salon"}),
        ("suspended", {"from": "active", "reason": "unpaid invoice"}),
        ("activated", {"from": "suspended"}),
    ]
    history = _run(app, "events", "cycle-salon").output.splitlines()
    assert [line.split()[2] for line in history] == ["created", "suspended", "activated"]


def test_suspending_an_unknown_tenant_fails(app, db):
    result = app.test_cli_runner().invoke(args=["bookme", "tenants", "suspend", "ghost-salon"])
    assert result.exit_code != 0
    assert "tenant_not_found" in result.output
