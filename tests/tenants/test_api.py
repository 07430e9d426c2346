"""The tenant endpoints: create, list, read and change a business; its domains."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bookme.core import clock, tenancy
from bookme.core.db import session
from bookme.tenants import service
from bookme.tenants.models import Tenant, TenantDomain, TenantEvent
from bookme.users.models import Membership
from tests.conftest import access_token, add_member, make_tenant, make_user


def _user_headers(db):
    user = make_user()
    token = access_token(user)
    db.session.commit()  # survive requests that roll their own unit of work back
    return user, {"Authorization": f"Bearer {token}"}


def _member(db, tenant, role):
    member = add_member(tenant, role)
    db.session.commit()
    return {"Authorization": f"Bearer {member.token}"}


def _owner(tenant):
    return tenant.owner.headers


def _events(slug):
    tenant = service.get_by_slug(slug)
    return [(e.type, e.data) for e in service.events(tenant_id=tenant.id)]


# --- POST /tenants ------------------------------------------------------------------------------


def test_create_tenant_returns_it_with_defaults_and_makes_the_caller_owner(client, db):
    user, headers = _user_headers(db)
    response = client.post(
        "/api/v1/tenants", json={"slug": "salon-nadia", "name": "Salon Nadia"}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "id",
        "slug",
        "name",
        "timezone",
        "currency",
        "locale",
        "status",
        "settings",
        "created_at",
    }
    assert body["slug"] == "salon-nadia"
    assert (body["timezone"], body["currency"], body["locale"]) == (
        "Africa/Casablanca",
        "MAD",
        "fr",
    )
    assert body["status"] == "active"
    assert body["settings"] == {"cancellation_cutoff_hours": 24}
    role = session().scalar(
        sa.select(Membership.role)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Tenant.slug == "salon-nadia", Membership.user_id == user.id)
    )
    assert role == "owner"
    assert _events("salon-nadia") == [("created", {"slug": "salon-nadia"})]


def test_create_tenant_provisions_its_schema_at_head(client, db):
    _, headers = _user_headers(db)
    response = client.post(
        "/api/v1/tenants", json={"slug": "spa-one", "name": "Spa"}, headers=headers
    )
    assert response.status_code == 201
    tenant = service.get_by_slug("spa-one")
    version = (
        session()
        .execute(sa.text(f'SELECT version_num FROM "{tenant.schema_name}".alembic_version'))
        .scalar_one()
    )
    assert version == tenant.schema_revision


def test_create_tenant_takes_timezone_currency_locale_and_settings(client, db):
    _, headers = _user_headers(db)
    response = client.post(
        "/api/v1/tenants",
        json={
            "slug": "tokyo-cuts",
            "name": "Tokyo Cuts",
            "timezone": "Asia/Tokyo",
            "currency": "JPY",
            "locale": "en",
            "settings": {"cancellation_cutoff_hours": 2},
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["timezone"], body["currency"], body["locale"]) == ("Asia/Tokyo", "JPY", "en")
    assert body["settings"] == {"cancellation_cutoff_hours": 2}
    # Output instants carry the tenant's own offset.
    assert body["created_at"].endswith("+09:00")


@pytest.mark.parametrize(
    "slug",
    [
        "public",
        "information_schema",
        "pg-catalog",
        "pg_toast",
        "pg-x",
        "admin",
        "api",
        "www",
        "ab",
        "1salon",
        "-salon",
        "Salon",
        "sa lon",
        "salon_nadia",
        "a" * 64,
        "",
        "postgres",
        "template1",
    ],
)
def test_reserved_or_malformed_slugs_are_refused(client, db, slug):
    _, headers = _user_headers(db)
    response = client.post("/api/v1/tenants", json={"slug": slug, "name": "X"}, headers=headers)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert "slug" in body["errors"]
    assert (
        session().scalar(sa.select(sa.func.count()).select_from(Tenant).where(Tenant.slug == slug))
        == 0
    )


def test_every_slug_of_the_documented_form_is_accepted(client, db):
    _, headers = _user_headers(db)
    for slug in ("abc", "salon-", "a-1-b", "z" + "9" * 62):
        response = client.post("/api/v1/tenants", json={"slug": slug, "name": "X"}, headers=headers)
        assert response.status_code == 201, (slug, response.get_json())
    me = client.get("/api/v1/tenants/salon-", headers=headers)
    assert me.status_code == 200


def test_a_taken_slug_is_409_slug_taken(client, db, tenant):
    _, headers = _user_headers(db)
    response = client.post(
        "/api/v1/tenants", json={"slug": tenant.slug, "name": "X"}, headers=headers
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "slug_taken"


def test_a_slug_taken_by_a_concurrent_insert_is_still_409_slug_taken(db, monkeypatch):
    owner = make_user()
    make_tenant(slug="race-slug")
    # The pre-check misses it (as when another request commits in between): the unique
    # constraint answers, mapped by its name.
    real_scalar = session().scalar
    monkeypatch.setattr(
        session(),
        "scalar",
        lambda stmt, *a, **k: None if "tenants.slug" in str(stmt) else real_scalar(stmt, *a, **k),
    )
    from bookme.core import errors

    with pytest.raises(errors.SlugTaken):
        service.create_tenant(slug="race-slug", name="Y", owner_id=owner.id)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("locale", "de"),
        ("locale", "FR"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "+01:00"),
        ("currency", "mad"),
        ("currency", "XYZ"),
        ("name", ""),
        ("name", "   "),
        ("name", "n" * 201),
        ("settings", {"cancellation_cutoff_hours": 721}),
        ("settings", {"cancellation_cutoff_hours": -1}),
        ("settings", {"cancellation_cutoff_hours": "24"}),
        ("settings", {"cancellation_cutoff_hours": True}),
        ("settings", {"reminders": 3}),
    ],
)
def test_invalid_create_fields_are_422_with_the_field_named(client, db, field, value):
    _, headers = _user_headers(db)
    body = {"slug": "valid-slug", "name": "Valid", field: value}
    response = client.post("/api/v1/tenants", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("field", ["id", "status", "created_at", "schema_name", "owner_id"])
def test_server_owned_fields_are_unknown_on_create(client, db, field):
    _, headers = _user_headers(db)
    body = {"slug": "valid-slug", "name": "Valid", field: "x"}
    response = client.post("/api/v1/tenants", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_creating_a_tenant_needs_a_token_whatever_the_body(client, db):
    response = client.post("/api/v1/tenants", data="not json", content_type="application/json")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


# --- GET /tenants -------------------------------------------------------------------------------


def test_list_shows_the_callers_tenants_only_paginated(client, db):
    user, headers = _user_headers(db)
    for slug in ("beta-salon", "alpha-salon", "gamma-salon"):
        make_tenant(slug=slug, name=slug.split("-")[0].capitalize())
        session().add(
            Membership(tenant_id=service.get_by_slug(slug).id, user_id=user.id, role="staff")
        )
    make_tenant(slug="not-mine")
    db.session.commit()
    response = client.get("/api/v1/tenants?page_size=2", headers=headers)
    assert response.status_code == 200
    assert [t["slug"] for t in response.get_json()] == ["alpha-salon", "beta-salon"]
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total"] == 3
    assert pagination["next_page"] == 2
    second = client.get("/api/v1/tenants?page=2&page_size=2", headers=headers).get_json()
    assert [t["slug"] for t in second] == ["gamma-salon"]


def test_list_page_size_over_100_is_422(client, db):
    _, headers = _user_headers(db)
    response = client.get("/api/v1/tenants?page_size=101", headers=headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


# --- GET/PATCH /tenants/{slug} ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "manager", "staff"])
def test_any_member_reads_the_tenant(client, db, tenant, role):
    headers = _owner(tenant) if role == "owner" else _member(db, tenant, role)
    response = client.get(f"/api/v1/tenants/{tenant.slug}", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["id"] == str(tenant.id)


def test_a_non_member_gets_403_and_an_unknown_slug_404(client, db, tenant, other_tenant):
    response = client.get(f"/api/v1/tenants/{tenant.slug}", headers=_owner(other_tenant))
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert str(tenant.id) not in response.get_data(as_text=True)
    response = client.get("/api/v1/tenants/no-such-salon", headers=_owner(other_tenant))
    assert response.status_code == 404
    assert response.get_json()["code"] == "tenant_not_found"


def test_a_member_sees_a_suspended_tenant_with_its_status(client, db, tenant):
    service.set_status(slug=tenant.slug, status="suspended", now=clock.now())
    response = client.get(f"/api/v1/tenants/{tenant.slug}", headers=_owner(tenant))
    assert response.status_code == 200
    assert response.get_json()["status"] == "suspended"


def test_owner_changes_profile_and_settings_and_it_is_recorded(client, db, tenant):
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}",
        json={
            "name": "Salon Nadia & Co",
            "timezone": "Europe/Paris",
            "currency": "EUR",
            "locale": "ar",
            "settings": {"cancellation_cutoff_hours": 48},
        },
        headers=_owner(tenant),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "Salon Nadia & Co"
    assert (body["timezone"], body["currency"], body["locale"]) == ("Europe/Paris", "EUR", "ar")
    assert body["settings"] == {"cancellation_cutoff_hours": 48}
    assert service.get_settings(
        tenancy.TenantRef(
            id=tenant.id,
            slug=tenant.slug,
            schema=tenancy.schema_for(tenant.id),
            timezone="Europe/Paris",
            currency="EUR",
            locale="ar",
            status="active",
        )
    ) == {"cancellation_cutoff_hours": 48}
    updated = [data for kind, data in _events(tenant.slug) if kind == "updated"]
    assert updated == [
        {
            "name": ["Salon Test", "Salon Nadia & Co"],
            "timezone": ["Africa/Casablanca", "Europe/Paris"],
            "currency": ["MAD", "EUR"],
            "locale": ["fr", "ar"],
            "settings": {"cancellation_cutoff_hours": [24, 48]},
        }
    ]


def test_patch_keeps_fields_not_given(client, db, tenant):
    client.patch(
        f"/api/v1/tenants/{tenant.slug}",
        json={"settings": {"cancellation_cutoff_hours": 0}},
        headers=_owner(tenant),
    )
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}", json={"name": "Renamed"}, headers=_owner(tenant)
    )
    body = response.get_json()
    assert body["name"] == "Renamed"
    assert body["timezone"] == "Africa/Casablanca"
    assert body["settings"] == {"cancellation_cutoff_hours": 0}


def test_a_patch_that_changes_nothing_records_no_event(client, db, tenant):
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}", json={"name": "Salon Test"}, headers=_owner(tenant)
    )
    assert response.status_code == 200
    assert [kind for kind, _ in _events(tenant.slug)] == ["created"]


@pytest.mark.parametrize("field", ["status", "id", "slug", "created_at"])
def test_server_owned_fields_are_not_writable(client, db, tenant, field):
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}", json={field: "suspended"}, headers=_owner(tenant)
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert service.get_by_slug(tenant.slug).status == "active"


def test_invalid_settings_are_422(client, db, tenant):
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}",
        json={"settings": {"cancellation_cutoff_hours": 721}},
        headers=_owner(tenant),
    )
    assert response.status_code == 422
    assert "settings" in response.get_json()["errors"]


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_only_the_owner_changes_the_tenant_checked_before_the_body(client, db, tenant, role):
    headers = _member(db, tenant, role)
    for body in ({"name": "Mine now"}, {"status": "x"}):
        response = client.patch(f"/api/v1/tenants/{tenant.slug}", json=body, headers=headers)
        assert response.status_code == 403
        assert response.get_json()["code"] == "forbidden"
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}",
        data="{oops",
        headers=headers,
        content_type="application/json",
    )
    assert response.status_code == 403


def test_a_suspended_tenant_cannot_be_changed(client, db, tenant):
    service.set_status(slug=tenant.slug, status="suspended", now=clock.now())
    response = client.patch(
        f"/api/v1/tenants/{tenant.slug}", json={"name": "X"}, headers=_owner(tenant)
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "tenant_suspended"


def test_get_settings_gives_defaults_for_settings_never_set(db, tenant):
    ref = service.tenant_ref_by_slug(tenant.slug)
    assert service.get_settings(ref) == {"cancellation_cutoff_hours": 24}
    assert service.get_settings(tenant.id) == {"cancellation_cutoff_hours": 24}
    with pytest.raises(Exception) as info:
        service.get_settings(uuid.uuid4())
    assert getattr(info.value, "code", None) == "tenant_not_found"


# --- lifecycle ----------------------------------------------------------------------------------


def test_suspend_and_activate_are_recorded_as_lifecycle_events(db, tenant):
    service.set_status(
        slug=tenant.slug, status="suspended", now=clock.now(), actor="cli:ops", reason="unpaid"
    )
    service.set_status(
        slug=tenant.slug, status="suspended", now=clock.now(), actor="cli:ops"
    )  # no change
    service.set_status(slug=tenant.slug, status="active", now=clock.now(), actor="cli:ops")
    rows = (
        session()
        .scalars(
            sa.select(TenantEvent)
            .where(TenantEvent.tenant_id == tenant.id)
            .order_by(TenantEvent.created_at)
        )
        .all()
    )
    assert [(e.type, e.actor, e.data) for e in rows[1:]] == [
        ("suspended", "cli:ops", {"from": "active", "reason": "unpaid"}),
        ("activated", "cli:ops", {"from": "suspended"}),
    ]


# --- domains ------------------------------------------------------------------------------------


def test_owner_adds_lists_and_removes_domains(client, db, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/domains"
    response = client.post(url, json={"domain": "Booking.Salon-Nadia.MA."}, headers=_owner(tenant))
    assert response.status_code == 201, response.get_json()
    added = response.get_json()
    assert added["domain"] == "booking.salon-nadia.ma"
    assert set(added) == {"id", "domain", "created_at"}
    client.post(url, json={"domain": "salon-nadia.ma"}, headers=_owner(tenant))
    listed = client.get(url, headers=_owner(tenant))
    assert [d["domain"] for d in listed.get_json()] == ["booking.salon-nadia.ma", "salon-nadia.ma"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2
    response = client.delete(f"{url}/{added['id']}", headers=_owner(tenant))
    assert response.status_code == 204
    assert [d["domain"] for d in client.get(url, headers=_owner(tenant)).get_json()] == [
        "salon-nadia.ma"
    ]
    assert [kind for kind, _ in _events(tenant.slug)] == [
        "created",
        "domain_added",
        "domain_added",
        "domain_removed",
    ]


def test_international_domains_are_stored_in_their_ascii_form(client, db, tenant):
    response = client.post(
        f"/api/v1/tenants/{tenant.slug}/domains",
        json={"domain": "ḿaison.ma"},
        headers=_owner(tenant),
    )
    assert response.status_code == 201
    assert response.get_json()["domain"].startswith("xn--")


def test_a_domain_registered_anywhere_is_409_domain_taken(client, db, tenant, other_tenant):
    url = f"/api/v1/tenants/{tenant.slug}/domains"
    assert (
        client.post(url, json={"domain": "shared.example.com"}, headers=_owner(tenant)).status_code
        == 201
    )
    again = client.post(url, json={"domain": "SHARED.example.com"}, headers=_owner(tenant))
    assert again.status_code == 409
    assert again.get_json()["code"] == "domain_taken"
    other = client.post(
        f"/api/v1/tenants/{other_tenant.slug}/domains",
        json={"domain": "shared.example.com"},
        headers=_owner(other_tenant),
    )
    assert other.status_code == 409


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "no_underscore.example.com",
        "-lead.example.com",
        "trail-.example.com",
        "a..b.com",
        "127.0.0.1",
        "example.123",
        "sp ace.com",
        "x" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "http://salon.ma",
        "salon.ma/path",
        "bookme.test",
        "nadia.bookme.test",
        "x.y.bookme.test",
        "",
    ],
)
def test_invalid_or_platform_domains_are_422(client, db, tenant, domain):
    response = client.post(
        f"/api/v1/tenants/{tenant.slug}/domains", json={"domain": domain}, headers=_owner(tenant)
    )
    assert response.status_code == 422
    assert "domain" in response.get_json()["errors"]


def test_a_tenant_has_at_most_a_bounded_number_of_domains(client, db, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/domains"
    for index in range(service.MAX_DOMAINS):
        assert (
            client.post(
                url, json={"domain": f"d{index}.example.com"}, headers=_owner(tenant)
            ).status_code
            == 201
        )
    response = client.post(url, json={"domain": "one-more.example.com"}, headers=_owner(tenant))
    assert response.status_code == 422


def test_removing_another_tenants_domain_is_404_and_keeps_it(client, db, tenant, other_tenant):
    theirs = client.post(
        f"/api/v1/tenants/{other_tenant.slug}/domains",
        json={"domain": "theirs.example.com"},
        headers=_owner(other_tenant),
    )
    domain_id = theirs.get_json()["id"]
    response = client.delete(
        f"/api/v1/tenants/{tenant.slug}/domains/{domain_id}", headers=_owner(tenant)
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    assert session().get(TenantDomain, uuid.UUID(domain_id)) is not None


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_only_owners_manage_domains(client, db, tenant, role):
    headers = _member(db, tenant, role)
    url = f"/api/v1/tenants/{tenant.slug}/domains"
    assert client.get(url, headers=headers).status_code == 403
    assert client.post(url, json={"domain": "x.example.com"}, headers=headers).status_code == 403
    assert client.delete(f"{url}/{uuid.uuid4()}", headers=headers).status_code == 403


def test_a_suspended_tenant_cannot_add_domains(client, db, tenant):
    service.set_status(slug=tenant.slug, status="suspended", now=clock.now())
    response = client.post(
        f"/api/v1/tenants/{tenant.slug}/domains",
        json={"domain": "a.example.com"},
        headers=_owner(tenant),
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "tenant_suspended"


def test_domain_created_at_carries_the_tenants_offset(client, db):
    info = make_tenant(timezone="Asia/Kolkata")
    response = client.post(
        f"/api/v1/tenants/{info.slug}/domains",
        json={"domain": "in.example.com"},
        headers=info.owner.headers,
    )
    assert response.get_json()["created_at"].endswith("+05:30")
    assert datetime.fromisoformat(response.get_json()["created_at"]) <= datetime.now(UTC)
