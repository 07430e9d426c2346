"""API.md "Errors" (every code where its module exists) and "Tenancy" (resolution, roles)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from tests.conformance.conftest import assert_problem, at
from tests.conftest import add_member, make_tenant, make_user

# --- 400 ------------------------------------------------------------------------------------------


def test_a_tenant_scoped_endpoint_without_a_tenant_is_400_tenant_required(client, tenant):
    response = client.get("/api/v1/services", headers=tenant.owner.headers)
    assert_problem(response, 400, "tenant_required")


def test_a_public_endpoint_without_a_tenant_is_400_tenant_required(client, salon):
    response = client.get(
        "/api/v1/public/availability",
        query_string={
            "service_id": str(salon.service.id),
            "from": "2027-05-04",
            "to": "2027-05-04",
        },
    )
    assert_problem(response, 400, "tenant_required")


# --- 401 ------------------------------------------------------------------------------------------


def _claims(app, token):
    return jwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])


def test_no_token_is_401_unauthorized(client, tenant):
    assert_problem(client.get("/api/v1/me"), 401, "unauthorized")
    assert_problem(
        client.get("/api/v1/services", headers={"X-Tenant": tenant.slug}), 401, "unauthorized"
    )


def test_a_tampered_token_is_401_unauthorized(client, tenant):
    token = tenant.owner.token
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert_problem(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "unauthorized",
    )


def test_an_expired_token_is_401_unauthorized(app, client, tenant):
    claims = _claims(app, tenant.owner.token)
    claims["exp"] = int(time.time()) - 60
    claims["iat"] = claims["nbf"] = int(time.time()) - 3600
    expired = jwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")
    assert_problem(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"}),
        401,
        "unauthorized",
    )


def test_a_revoked_token_is_401_unauthorized(client, db):
    user = make_user()
    login = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse battery"}
    ).get_json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_a_refresh_token_is_not_an_access_token(client, db):
    user = make_user()
    login = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse battery"}
    ).get_json()
    headers = {"Authorization": f"Bearer {login['refresh_token']}"}
    assert_problem(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


# --- 403 ------------------------------------------------------------------------------------------


def test_a_role_that_does_not_allow_it_is_403_forbidden(client, tenant):
    staff = add_member(tenant, "staff")
    response = client.post(
        "/api/v1/services",
        json={"name": "X", "duration_minutes": 30, "price": "1"},
        headers=tenant.headers(staff),
    )
    assert_problem(response, 403, "forbidden")


def test_a_suspended_tenant_is_403_tenant_suspended(app, client, salon):
    tenant = salon.tenant
    result = app.test_cli_runner().invoke(args=["bookme", "tenants", "suspend", tenant.slug])
    assert result.exit_code == 0, result.output
    assert_problem(
        client.get("/api/v1/services", headers=tenant.headers()), 403, "tenant_suspended"
    )
    assert_problem(
        client.get(
            "/api/v1/public/availability",
            query_string={
                "service_id": str(salon.service.id),
                "from": "2027-05-04",
                "to": "2027-05-04",
            },
            headers={"X-Tenant": tenant.slug},
        ),
        403,
        "tenant_suspended",
    )


# --- 404 ------------------------------------------------------------------------------------------


def test_an_unknown_object_is_404_not_found(http):
    assert_problem(http.get("/services/00000000-0000-0000-0000-000000000000"), 404, "not_found")


def test_an_unknown_tenant_is_404_tenant_not_found(client, tenant):
    headers = {**tenant.owner.headers, "X-Tenant": "no-such-tenant"}
    assert_problem(client.get("/api/v1/services", headers=headers), 404, "tenant_not_found")
    assert_problem(
        client.get("/api/v1/tenants/no-such-tenant", headers=tenant.owner.headers),
        404,
        "tenant_not_found",
    )


# --- 409 ------------------------------------------------------------------------------------------


def test_slot_unavailable_is_409_with_its_title(http, salon):
    assert http.post("/bookings", http.booking_body(salon)).status_code == 201
    body = assert_problem(
        http.post(
            "/bookings",
            http.booking_body(salon, customer={"full_name": "B", "phone": "+212600000001"}),
        ),
        409,
        "slot_unavailable",
    )
    assert body["title"] == "Slot unavailable"
    assert body.get("detail")


def test_invalid_transition_is_409(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    http.ok("POST", f"/bookings/{booking['id']}/cancel", json={})
    assert_problem(http.post(f"/bookings/{booking['id']}/confirm"), 409, "invalid_transition")


def test_slug_taken_is_409(client, tenant):
    response = client.post(
        "/api/v1/tenants", json={"slug": tenant.slug, "name": "Again"}, headers=tenant.owner.headers
    )
    assert_problem(response, 409, "slug_taken")


def test_email_taken_is_409_on_register(client, db):
    user = make_user()
    response = client.post(
        "/api/v1/auth/register",
        json={"email": user.email.upper(), "password": "a long password", "full_name": "X"},
    )
    assert_problem(response, 409, "email_taken")


def test_email_taken_is_409_on_customers(http):
    http.ok("POST", "/customers", 201, json={"full_name": "A", "email": "a@example.com"})
    response = http.post("/customers", {"full_name": "B", "email": "A@example.com"})
    assert_problem(response, 409, "email_taken")


def test_cancellation_window_passed_is_409(client, http, salon):
    created = http.ok(
        "POST",
        "/public/bookings",
        201,
        json=http.booking_body(salon, "2027-05-03 14:00"),
        headers={"Authorization": ""},
    )
    response = client.post(f"/api/v1/public/bookings/{created['manage_token']}/cancel", json={})
    assert_problem(response, 409, "cancellation_window_passed")


# --- 413, 422, 429 --------------------------------------------------------------------------------


def test_idempotency_key_reused_is_422(http, salon):
    key = {"Idempotency-Key": "k-1"}
    http.ok("POST", "/bookings", 201, json=http.booking_body(salon), headers=key)
    response = http.post("/bookings", http.booking_body(salon, "2027-05-04 11:00"), headers=key)
    assert_problem(response, 422, "idempotency_key_reused")


def test_validation_errors_name_each_field(http):
    response = http.post("/services", {"name": "", "duration_minutes": 3, "price": "x"})
    body = assert_problem(response, 422, "validation_error")
    assert {"name", "duration_minutes", "price"} <= set(body["errors"])
    assert all(isinstance(v, list | dict) for v in body["errors"].values())


def test_invalid_query_arguments_are_422_validation_error(http):
    response = http.get("/availability", query_string={"service_id": "x", "from": "soon"})
    body = assert_problem(response, 422, "validation_error")
    assert {"service_id", "from", "to"} <= set(body["errors"])


# --- Tenancy --------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["abc", "a-1", "a" * 63, "salon-nadia-2"])
def test_slugs_of_3_to_63_lowercase_letters_digits_and_dashes_are_taken(client, db, slug):
    user = make_user()
    response = client.post(
        "/api/v1/tenants",
        json={"slug": slug, "name": "Salon"},
        headers={"Authorization": f"Bearer {_token(client, user)}"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["slug"] == slug


@pytest.mark.parametrize("slug", ["ab", "a" * 64, "1abc", "-abc", "Abc", "ab_c", "ab c", "abé"])
def test_other_slugs_are_422(client, tenant, slug):
    response = client.post(
        "/api/v1/tenants", json={"slug": slug, "name": "Salon"}, headers=tenant.owner.headers
    )
    assert "slug" in assert_problem(response, 422, "validation_error")["errors"]


def _token(client, user):
    response = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse battery"}
    )
    return response.get_json()["access_token"]


def test_the_host_header_names_the_tenant_when_it_is_one_of_its_domains(client, http, tenant):
    http.ok("POST", f"/tenants/{tenant.slug}/domains", 201, json={"domain": "rdv.salon.example"})
    category = http.ok("POST", "/service-categories", 201, json={"name": "Only here"})
    other = make_tenant()
    response = client.get(
        "/api/v1/service-categories",
        headers={**tenant.owner.headers, "Host": "rdv.salon.example"},
    )
    assert [c["id"] for c in response.get_json()] == [category["id"]]
    # The Host wins over X-Tenant ("else from the X-Tenant header").
    response = client.get(
        "/api/v1/service-categories",
        headers={**tenant.owner.headers, "Host": "rdv.salon.example", "X-Tenant": other.slug},
    )
    assert response.status_code == 200
    assert [c["id"] for c in response.get_json()] == [category["id"]]


def test_a_token_for_tenant_a_gets_403_or_404_on_tenant_b_never_its_data(client, salon):
    other = make_tenant()
    mine = client.get("/api/v1/staff", headers=salon.tenant.headers()).get_json()
    intruder = {**other.owner.headers, "X-Tenant": salon.tenant.slug}
    for path in (
        "/api/v1/staff",
        f"/api/v1/staff/{salon.nadia.id}",
        f"/api/v1/services/{salon.service.id}",
        "/api/v1/bookings",
        "/api/v1/customers",
        "/api/v1/members",
        f"/api/v1/tenants/{salon.tenant.slug}",
    ):
        response = client.get(path, headers=intruder)
        assert response.status_code in {403, 404}, path
        assert response.mimetype == "application/problem+json"
    # With their own tenant header, B's member sees B's (empty) staff, never A's.
    own = client.get("/api/v1/staff", headers=other.headers()).get_json()
    assert mine and own == []
    response = client.get(f"/api/v1/staff/{salon.nadia.id}", headers=other.headers())
    assert_problem(response, 404, "not_found")


# --- roles ----------------------------------------------------------------------------------------


@pytest.fixture
def people(salon):
    return {
        "owner": None,
        "manager": add_member(salon.tenant, "manager"),
        "staff": add_member(salon.tenant, "staff"),
    }


def test_only_the_owner_manages_members(http, salon, people):
    for role in ("manager", "staff"):
        assert_problem(http.as_(people[role]).get("/members"), 403, "forbidden")
        assert_problem(
            http.as_(people[role]).post("/members", {"email": "x@example.com", "role": "staff"}),
            403,
            "forbidden",
        )
    assert http.get("/members").status_code == 200


def test_managers_write_the_catalog_staff_bookings_and_customers(http, salon, people):
    manager = http.as_(people["manager"])
    manager.ok("POST", "/service-categories", 201, json={"name": "Soins"})
    manager.ok(
        "POST", "/services", 201, json={"name": "Soin", "duration_minutes": 30, "price": "10"}
    )
    manager.ok("POST", "/staff", 201, json={"display_name": "Leila"})
    manager.ok("PUT", f"/staff/{salon.karim.id}/working-hours", json=[])
    manager.ok("POST", "/customers", 201, json={"full_name": "Salma"})
    booking = manager.ok("POST", "/bookings", 201, json=manager.booking_body(salon))
    manager.ok("POST", f"/bookings/{booking['id']}/cancel", json={})
    manager.ok(
        "POST",
        "/closures",
        201,
        json={"starts_at": at("2027-06-01 00:00"), "ends_at": at("2027-06-02 00:00")},
    )


def test_staff_read_the_catalog_but_do_not_write_it(http, salon, people):
    staff = http.as_(people["staff"])
    assert staff.get("/services").status_code == 200
    assert staff.get("/service-categories").status_code == 200
    assert staff.get("/staff").status_code == 200
    assert_problem(staff.post("/service-categories", {"name": "X"}), 403, "forbidden")
    assert_problem(staff.patch(f"/services/{salon.service.id}", {"name": "X"}), 403, "forbidden")
    assert_problem(staff.post("/staff", {"display_name": "X"}), 403, "forbidden")
    assert_problem(
        staff.post(
            "/closures", {"starts_at": at("2027-06-01 00:00"), "ends_at": at("2027-06-02 00:00")}
        ),
        403,
        "forbidden",
    )


def test_staff_read_and_create_bookings(http, salon, people):
    staff = http.as_(people["staff"])
    created = staff.ok("POST", "/bookings", 201, json=staff.booking_body(salon))
    assert staff.get("/bookings").status_code == 200
    assert staff.get(f"/bookings/{created['id']}").status_code == 200


def _staff_member_of(http, salon, member):
    """Link the staff role `member` to the staff record Nadia (their own schedule)."""
    http.ok("PATCH", f"/staff/{salon.nadia.id}", json={"user_id": str(member.user_id)})


def test_staff_read_and_change_their_own_schedule_only(http, salon, people):
    member = people["staff"]
    _staff_member_of(http, salon, member)
    staff = http.as_(member)
    week = [{"weekday": 1, "start": "10:00", "end": "12:00"}]
    staff.ok("PUT", f"/staff/{salon.nadia.id}/working-hours", json=week)
    staff.ok("GET", f"/staff/{salon.nadia.id}/working-hours")
    staff.ok(
        "POST",
        f"/staff/{salon.nadia.id}/time-off",
        201,
        json={"starts_at": at("2027-06-01 10:00"), "ends_at": at("2027-06-01 11:00")},
    )
    response = staff.put(f"/staff/{salon.karim.id}/working-hours", week)
    assert response.status_code in {403, 404}


def test_staff_change_their_own_bookings_only(http, salon, people):
    member = people["staff"]
    _staff_member_of(http, salon, member)
    staff = http.as_(member)
    mine = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    theirs = http.ok(
        "POST", "/bookings", 201, json=http.booking_body(salon, staff_id=str(salon.karim.id))
    )
    staff.ok("POST", f"/bookings/{mine['id']}/cancel", json={"reason": "asked"})
    response = staff.post(f"/bookings/{theirs['id']}/cancel", {"reason": "no"})
    assert response.status_code in {403, 404}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/customers"),
        ("POST", "/customers"),
        ("GET", "/customers/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_staff_have_no_access_to_customers(http, salon, people, method, path):
    # API.md: staff "reads the catalog, reads and creates bookings, reads and changes its own
    # schedule and bookings"; customers are listed for managers only.
    staff = http.as_(people["staff"])
    response = staff._call(method, path, json={"full_name": "X"} if method == "POST" else None)
    assert_problem(response, 403, "forbidden")


# --- access before the body -----------------------------------------------------------------------


GARBAGE = [
    ("data", "{not json"),
    ("json", {"unknown": "\x00", "id": 1}),
    ("json", []),
]


@pytest.mark.parametrize(("kind", "payload"), GARBAGE)
def test_access_is_checked_before_the_body(client, salon, kind, payload):
    tenant = salon.tenant
    staff = add_member(tenant, "staff")
    outsider = make_tenant()
    kwargs = {kind: payload}
    if kind == "data":
        kwargs["content_type"] = "application/json"
    cases = [
        ("POST", "/api/v1/services", {"X-Tenant": tenant.slug}, 401, "unauthorized"),
        ("POST", "/api/v1/services", tenant.headers(staff), 403, "forbidden"),
        (
            "POST",
            "/api/v1/services",
            {**outsider.owner.headers, "X-Tenant": tenant.slug},
            403,
            "forbidden",
        ),
        ("POST", "/api/v1/members", tenant.headers(staff), 403, "forbidden"),
        ("PATCH", f"/api/v1/tenants/{tenant.slug}", outsider.owner.headers, 403, "forbidden"),
        (
            "PATCH",
            "/api/v1/services/00000000-0000-0000-0000-000000000000",
            tenant.headers(),
            404,
            "not_found",
        ),
        (
            "PUT",
            f"/api/v1/staff/{salon.karim.id}/working-hours",
            tenant.headers(staff),
            403,
            "forbidden",
        ),
        (
            "POST",
            f"/api/v1/bookings/{'0' * 8}-0000-0000-0000-{'0' * 12}/cancel",
            tenant.headers(),
            404,
            "not_found",
        ),
        ("POST", "/api/v1/public/bookings/unknown-token/cancel", {}, 404, "not_found"),
        (
            "POST",
            "/api/v1/customers",
            {**tenant.owner.headers, "X-Tenant": "nope-nope"},
            404,
            "tenant_not_found",
        ),
    ]
    for method, path, headers, status, code in cases:
        response = client.open(path, method=method, headers=headers, **kwargs)
        try:
            assert_problem(response, status, code)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path}: {response.get_data(as_text=True)}") from exc


def test_a_request_gunicorn_itself_refuses_is_answered_with_problem_details(app, db):
    # A request line or header over gunicorn's limits never reaches the app: gunicorn answers
    # it, and under the production settings (Procfile's `web`) it answers as the API does.
    import http.client
    import urllib.parse

    from tests.bookings.live import server

    def send(path: str, headers: dict[str, str]) -> tuple[Any, dict[str, Any]]:
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        conn.request("POST", path, headers=headers)
        answer = conn.getresponse()
        body = json.loads(answer.read())
        conn.close()
        return answer, body

    with server(app.config["BOOKME"], workers=1, threads=1, production_config=True) as base:
        where = urllib.parse.urlsplit(base)
        refused = [
            send("/api/v1/public/bookings/" + "x" * 5000 + "/pay", {}),
            send("/api/v1/bookings", {"X-Big": "y" * 9000}),
        ]
    for answer, body in refused:
        assert 400 <= answer.status < 500
        assert answer.getheader("Content-Type") == "application/problem+json"
        assert body["code"] == "bad_request" and body["status"] == answer.status
        assert body["type"].endswith("/bad_request") and body["detail"]
        assert answer.getheader("X-Frame-Options") == "DENY"
        assert answer.getheader("Referrer-Policy") == "no-referrer"
        assert answer.getheader("X-Content-Type-Options") == "nosniff"
