"""API.md "Conventions": base path, documents, probes, times, money, ids, bodies, headers."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.conformance.conftest import (
    LOCAL_DATE,
    LOCAL_TIME,
    MONEY,
    RFC3339,
    assert_problem,
    at,
    is_uuid,
)
from tests.conftest import make_tenant

# --- base path and documents ----------------------------------------------------------------


def test_the_api_lives_under_api_v1(client, tenant):
    assert client.get("/api/v1/me", headers=tenant.owner.headers).status_code == 200
    assert_problem(client.get("/api/me", headers=tenant.owner.headers), 404, "not_found")
    assert_problem(client.get("/me", headers=tenant.owner.headers), 404, "not_found")


def test_the_openapi_document_is_served_as_json(client, db):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert any(path.startswith("/api/v1/") for path in spec["paths"])


def test_the_interactive_docs_load_only_local_files(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    urls = re.findall(r"""url\s*:\s*["']([^"']+)["']""", page)
    assert references, page
    for ref in references + urls:
        assert not re.match(r"^(https?:)?//", ref), f"remote asset {ref}"
        target = ref if ref.startswith("/") else "/api/" + ref.lstrip("./")
        asset = client.get(target)
        asset.close()
        assert asset.status_code == 200, target
    assert "/api/openapi.json" in page


# --- health -----------------------------------------------------------------------------------


def test_healthz_is_200_status_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_when_postgresql_and_redis_answer(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_readyz_is_503_naming_redis_when_redis_does_not_answer(app, client, db, monkeypatch):
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setitem(app.extensions, "bookme.redis", dead)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["redis"] != "ok"
    assert body["checks"]["postgres"] == "ok"


def test_readyz_is_503_naming_postgresql_when_it_does_not_answer(client, db):
    engine = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    # Swapped by hand (not monkeypatch): the `db` fixture restores the real session on its
    # own teardown, which must find its own session back in place first.
    test_session = db.session
    db.session = scoped_session(sessionmaker(bind=engine))
    try:
        response = client.get("/readyz")
    finally:
        db.session.remove()
        db.session = test_session
        engine.dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["postgres"] != "ok"
    assert body["checks"]["redis"] == "ok"


# --- times ------------------------------------------------------------------------------------

NAIVE = "2027-05-04T10:00:00"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/closures", {"starts_at": NAIVE, "ends_at": "2027-05-05T10:00:00+01:00"}),
        ("POST", "/closures", {"starts_at": "2027-05-04T10:00:00+01:00", "ends_at": NAIVE}),
        ("POST", "/closures", {"starts_at": "2027-05-04", "ends_at": "2027-05-05T10:00:00Z"}),
        ("POST", "/closures", {"starts_at": "2027-05-04 10:00", "ends_at": "2027-05-05"}),
    ],
)
def test_an_instant_without_an_offset_is_422(http, method, path, body):
    response = http._call(method, path, json=body)
    errors = assert_problem(response, 422, "validation_error")["errors"]
    assert set(errors) <= {"starts_at", "ends_at"}


def test_a_booking_time_without_an_offset_is_422(http, salon):
    body = http.booking_body(salon)
    body["starts_at"] = NAIVE
    errors = assert_problem(http.post("/bookings", body), 422, "validation_error")["errors"]
    assert "starts_at" in errors


def test_instants_given_in_utc_read_with_the_tenants_offset(http, tenant):
    created = http.ok(
        "POST",
        "/closures",
        201,
        json={"starts_at": "2027-05-04T09:00:00Z", "ends_at": "2027-05-04T17:00:00Z"},
    )
    assert created["starts_at"] == "2027-05-04T10:00:00+01:00"
    assert created["ends_at"] == "2027-05-04T18:00:00+01:00"
    assert RFC3339.match(created["created_at"]) and created["created_at"].endswith("+01:00")


def test_the_offset_is_the_tenants_at_that_instant_across_dst(client, db):
    paris = make_tenant(timezone="Europe/Paris")
    headers = paris.headers()
    winter = client.post(
        "/api/v1/closures",
        json={"starts_at": "2027-03-27T09:00:00Z", "ends_at": "2027-03-28T09:00:00Z"},
        headers=headers,
    ).get_json()
    # Paris moves to UTC+2 at 01:00 UTC on Sunday 28 March 2027.
    assert winter["starts_at"] == "2027-03-27T10:00:00+01:00"
    assert winter["ends_at"] == "2027-03-28T11:00:00+02:00"


def test_output_instants_of_tenant_resources_carry_the_tenant_offset(http, tenant, frozen):
    offset = "+01:00"
    created = {
        "category": http.ok("POST", "/service-categories", 201, json={"name": "Cheveux"}),
        "service": http.ok(
            "POST", "/services", 201, json={"name": "Coupe", "duration_minutes": 30, "price": "80"}
        ),
        "staff": http.ok("POST", "/staff", 201, json={"display_name": "Nadia"}),
        "customer": http.ok("POST", "/customers", 201, json={"full_name": "Salma"}),
    }
    members = http.ok("GET", "/members")
    created["member"] = members[0]
    for name, body in created.items():
        assert body["created_at"].endswith(offset), (name, body["created_at"])
        assert RFC3339.match(body["created_at"]), (name, body["created_at"])


def test_local_times_are_hh_mm_and_local_dates_yyyy_mm_dd(http, salon):
    staff_id = salon.nadia.id
    week = http.ok("GET", f"/staff/{staff_id}/working-hours")
    intervals = week if isinstance(week, list) else week["intervals"]
    assert intervals
    for interval in intervals:
        assert LOCAL_TIME.match(interval["start"]) and LOCAL_TIME.match(interval["end"])
    slots = http.ok(
        "GET",
        "/availability",
        query_string={
            "service_id": str(salon.service.id),
            "from": "2027-05-04",
            "to": "2027-05-04",
        },
    )
    assert LOCAL_DATE.match(slots["from"]) and LOCAL_DATE.match(slots["to"])


def test_durations_are_whole_minutes(http):
    response = http.post("/services", {"name": "Coupe", "duration_minutes": 30.5, "price": "80.00"})
    assert "duration_minutes" in assert_problem(response, 422, "validation_error")["errors"]
    response = http.post("/services", {"name": "Coupe", "duration_minutes": "30", "price": "80"})
    assert "duration_minutes" in assert_problem(response, 422, "validation_error")["errors"]


# --- money and ids ----------------------------------------------------------------------------


def test_money_is_a_decimal_string_with_an_iso_4217_code(http):
    service = http.ok(
        "POST", "/services", 201, json={"name": "Coupe", "duration_minutes": 30, "price": "150"}
    )
    assert service["price"] == "150.00"
    assert service["currency"] == "MAD"
    assert MONEY.match(service["price"])


@pytest.mark.parametrize(
    "price",
    [
        "150.001", "-1.00", "abc", "NaN", "Infinity", True,
        "1e3", "0000000000150.00", " 150.00",
    ],
)  # fmt: skip
def test_an_amount_that_is_not_a_non_negative_decimal_is_422(http, price):
    response = http.post("/services", {"name": "X", "duration_minutes": 30, "price": price})
    assert "price" in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize("currency", ["mad", "XYZ", "MADD", ""])
def test_a_currency_that_is_not_iso_4217_is_422(http, currency):
    response = http.post(
        "/services", {"name": "X", "duration_minutes": 30, "price": "1", "currency": currency}
    )
    assert "currency" in assert_problem(response, 422, "validation_error")["errors"]


def test_ids_are_uuids(http, salon):
    booking = http.ok("POST", "/bookings", 201, json=http.booking_body(salon))
    for key in ("id", "service_id", "staff_id", "customer_id"):
        assert is_uuid(booking[key]), key
    assert is_uuid(http.ok("GET", "/me")["id"])


@pytest.mark.parametrize(
    "path", ["/services/123", "/staff/not-a-uuid", "/customers/1", "/bookings/abc"]
)
def test_an_id_that_is_not_a_uuid_is_404(http, path):
    assert_problem(http.get(path), 404, "not_found")


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/service-categories", {"name": "A", "id": "00000000-0000-0000-0000-000000000001"}, "id"),
        ("/service-categories", {"name": "A", "created_at": "2027-01-01T00:00:00Z"}, "created_at"),
        ("/services", {"name": "A", "duration_minutes": 30, "price": "1", "status": "x"}, "status"),
        ("/staff", {"display_name": "A", "id": "00000000-0000-0000-0000-000000000001"}, "id"),
        ("/customers", {"full_name": "A", "created_at": "2027-01-01T00:00:00Z"}, "created_at"),
        ("/customers", {"full_name": "A", "is_vip": True}, "is_vip"),
        (
            "/closures",
            {
                "starts_at": at("2027-05-04 10:00"),
                "ends_at": at("2027-05-04 11:00"),
                "id": "00000000-0000-0000-0000-000000000001",
            },
            "id",
        ),
    ],
)
def test_unknown_and_server_owned_fields_are_422(http, path, body, field):
    errors = assert_problem(http.post(path, body), 422, "validation_error")["errors"]
    assert field in errors


@pytest.mark.parametrize("field", ["id", "status", "price", "created_at", "manage_token"])
def test_server_owned_booking_fields_are_422(http, salon, field):
    values = {
        "id": "00000000-0000-0000-0000-000000000001",
        "status": "completed",
        "price": "0.00",
        "created_at": "2027-01-01T00:00:00Z",
        "manage_token": "x" * 32,
    }
    body = http.booking_body(salon, **{field: values[field]})
    errors = assert_problem(http.post("/bookings", body), 422, "validation_error")["errors"]
    assert field in errors


def test_server_owned_tenant_status_is_not_writable(http, tenant):
    response = http.patch(f"/tenants/{tenant.slug}", {"status": "suspended"})
    assert "status" in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/service-categories", {"name": "Nul\x00"}),
        ("POST", "/customers", {"full_name": "Salma", "notes": "a\x00b"}),
        ("POST", "/customers", {"full_name": "Salma", "tags": ["ok", "b\x00"]}),
        ("POST", "/staff", {"display_name": "\x00"}),
        (
            "POST",
            "/services",
            {"name": "X", "duration_minutes": 30, "price": "1", "metadata": {"k": "\x00"}},
        ),
    ],
)
def test_a_nul_character_in_any_body_string_is_422(http, method, path, body):
    assert_problem(http._call(method, path, json=body), 422, "validation_error")


def test_a_nul_character_nested_in_a_booking_is_422(http, salon):
    body = http.booking_body(salon)
    body["customer"]["full_name"] = "Sal\x00ma"
    assert_problem(http.post("/bookings", body), 422, "validation_error")


def test_a_nul_character_in_a_path_string_is_not_a_500(client, db):
    response = client.get("/api/v1/public/bookings/abc%00def")
    assert response.status_code in {404, 422}
    assert response.mimetype == "application/problem+json"


def test_a_body_that_is_not_json_is_400_invalid_json(http):
    response = http._call(
        "POST", "/service-categories", data="{nope", content_type="application/json"
    )
    assert_problem(response, 400, "invalid_json")


@pytest.mark.parametrize("body", ["[]", '"name"', "3", "null", "true"])
def test_a_json_body_that_is_not_an_object_is_400_invalid_json(http, body):
    response = http._call("POST", "/service-categories", data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


# A \u escape for half a surrogate pair: valid JSON syntax, but not Unicode text; nothing
# downstream can store or encode it.
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/customers", '{"full_name": "Sa\\ud800lma"}'),
        ("/service-categories", '{"name": "\\uDC00"}'),
        ("/services", '{"name": "X", "duration_minutes": 30, "price": "1",'
                      ' "metadata": {"\\ud83d": "key"}}'),
        ("/staff", '{"display_name": "A", "phone": "+212612345678\\udfff"}'),
    ],
)  # fmt: skip
def test_a_lone_surrogate_escape_in_a_body_is_400_invalid_json(http, path, body):
    response = http._call("POST", path, data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", '{"email": "\\ud800@example.com", "password": "whatever-long"}'),
        ("/auth/register", '{"email": "a@example.com", "password": "long-enough-1",'
                           ' "full_name": "\\ud800"}'),
    ],
)  # fmt: skip
def test_a_lone_surrogate_escape_before_login_is_400_not_500(client, db, path, body):
    response = client.post(f"/api/v1{path}", data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a\xed\xa0\x80@example.com", "password": "whatever-long"}',  # as UTF-8 bytes
        '{"email": "a@example.com", "password": "whatever-long"}'.encode("utf-16"),
    ],
)
def test_a_login_body_the_rate_limiter_reads_first_is_utf8_json_or_400(client, db, body):
    # The per-account login limit reads the email from the body before the view does.
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


def test_a_surrogate_pair_escape_is_one_character(http):
    body = '{"full_name": "Salma \\ud83d\\ude00"}'
    response = http._call("POST", "/customers", data=body, content_type="application/json")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["full_name"] == "Salma \U0001f600"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/staff", {"display_name": "A", "phone": "+212612345678\n"}, "phone"),
        ("/services", {"name": "X", "duration_minutes": 30, "price": "150.00\n"}, "price"),
    ],
)
def test_a_trailing_newline_does_not_pass_a_pattern(http, path, body, field):
    # Python's `$` matches before a final newline; every pattern must take the whole value.
    errors = assert_problem(http.post(path, body), 422, "validation_error")["errors"]
    assert field in errors


def test_a_local_time_with_a_trailing_newline_is_422(http, salon):
    response = http.put(
        f"/staff/{salon.nadia.id}/working-hours",
        [{"weekday": 1, "start": "09:00\n", "end": "10:00"}],
    )
    assert_problem(response, 422, "validation_error")


def test_a_body_over_one_mebibyte_is_413(http):
    body = json.dumps({"full_name": "x", "notes": "n" * (1024 * 1024)})
    response = http._call("POST", "/customers", data=body, content_type="application/json")
    assert_problem(response, 413, "payload_too_large")


# --- headers ----------------------------------------------------------------------------------


def assert_secure_headers(response):
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff"
    frame_ok = headers.get("X-Frame-Options") == "DENY" or "frame-ancestors 'none'" in headers.get(
        "Content-Security-Policy", ""
    )
    assert frame_ok
    assert headers.get("Referrer-Policy")
    assert "Server" not in headers
    assert "X-Powered-By" not in headers


def test_every_kind_of_response_carries_the_security_headers(client, http, salon, tenant):
    owner = tenant.headers()
    responses = {
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "openapi": client.get("/api/openapi.json"),
        "docs": client.get("/api/docs"),
        "200 list": client.get("/api/v1/services", headers=owner),
        "201": client.post("/api/v1/service-categories", json={"name": "H"}, headers=owner),
        "204": client.delete(f"/api/v1/staff/{salon.karim.id}", headers=owner),
        "400": client.post(
            "/api/v1/customers", data="{", content_type="application/json", headers=owner
        ),
        "401": client.get("/api/v1/services", headers={"X-Tenant": tenant.slug}),
        "404": client.get("/api/v1/nowhere"),
        "405": client.delete("/api/v1/services", headers=owner),
        "409": client.post("/api/v1/bookings", json={}, headers=owner),
        "422": client.post("/api/v1/customers", json={}, headers=owner),
        "public": client.get(
            "/api/v1/public/availability",
            query_string={
                "service_id": str(salon.service.id),
                "from": "2027-05-04",
                "to": "2027-05-04",
            },
            headers={"X-Tenant": tenant.slug},
        ),
        "webhook": client.post(f"/webhooks/stripe/{tenant.slug}", data="{}"),
        "413": client.post(
            "/api/v1/customers",
            data='{"full_name": "' + "x" * (1024 * 1024) + '"}',
            content_type="application/json",
            headers=owner,
        ),
        "manage page": client.get("/m/not-a-token"),
    }
    for _ in range(10):
        client.post(
            "/api/v1/auth/login",
            json={"email": "nobody@example.com", "password": "x"},
            environ_base={"REMOTE_ADDR": "10.5.0.1"},
        )
    responses["429"] = client.post(
        "/api/v1/auth/login",
        json={"email": "nobody@example.com", "password": "x"},
        environ_base={"REMOTE_ADDR": "10.5.0.1"},
    )
    assert responses["413"].status_code == 413
    assert responses["429"].status_code == 429
    for name, response in responses.items():
        try:
            assert_secure_headers(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {dict(response.headers)}") from exc


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/me", {"GET"}),
        ("PUT", "/api/v1/services", {"GET", "POST"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("POST", "/api/v1/availability", {"GET"}),
        ("GET", "/webhooks/twilio/status", {"POST"}),
    ],
)
def test_a_wrong_method_is_405_with_allow(client, tenant, method, path, allowed):
    response = client.open(path, method=method, headers=tenant.headers())
    assert_problem(response, 405, "method_not_allowed")
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= listed
    assert method not in listed


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/services/x/y/z", "/api/v2/me"])
def test_unknown_paths_under_api_are_404_problems(client, db, path):
    assert_problem(client.get(path), 404, "not_found")


# --- CORS -------------------------------------------------------------------------------------


@pytest.fixture
def allowed_origin(app, monkeypatch):
    settings = app.config["BOOKME"]
    monkeypatch.setitem(
        app.config,
        "BOOKME",
        dataclasses.replace(settings, cors_origins=("https://app.example.com",)),
    )
    return "https://app.example.com"


def test_cors_answers_an_allowed_origin_never_with_a_wildcard(client, tenant, allowed_origin):
    response = client.get(
        "/api/v1/services", headers={**tenant.headers(), "Origin": allowed_origin}
    )
    assert response.headers["Access-Control-Allow-Origin"] == allowed_origin
    assert response.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "Origin" in response.headers.get("Vary", "")


def test_cors_preflight_of_an_allowed_origin(client, db, allowed_origin):
    response = client.options(
        "/api/v1/services",
        headers={
            "Origin": allowed_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, X-Tenant",
        },
    )
    assert response.status_code in {200, 204}
    assert response.headers["Access-Control-Allow-Origin"] == allowed_origin
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "x-tenant", "idempotency-key"):
        assert header in allowed_headers
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://app.example.com.evil"])
def test_cors_ignores_other_origins(client, tenant, allowed_origin, origin):
    for response in (
        client.get("/api/v1/services", headers={**tenant.headers(), "Origin": origin}),
        client.options(
            "/api/v1/services",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        ),
    ):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert response.headers.get("Access-Control-Allow-Origin") != "*"


def test_cors_answers_a_tenants_own_domain(client, http, tenant):
    http.ok("POST", f"/tenants/{tenant.slug}/domains", 201, json={"domain": "book.salon.example"})
    origin = "https://book.salon.example"
    response = client.get("/api/v1/services", headers={**tenant.headers(), "Origin": origin})
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_cors_exposes_the_headers_clients_read(client, tenant, allowed_origin):
    response = client.get(
        "/api/v1/services", headers={**tenant.headers(), "Origin": allowed_origin}
    )
    exposed = response.headers.get("Access-Control-Expose-Headers", "").lower()
    assert "x-pagination" in exposed
    assert "retry-after" in exposed


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/customers", "q"),
        ("/customers", "tag"),
        ("/closures", "from"),
        ("/closures", "to"),
        ("/staff/{staff}/time-off", "from"),
        ("/staff/{staff}/date-overrides", "to"),
        ("/bookings", "from"),
        ("/bookings", "to"),
        ("/bookings", "status"),
        ("/availability", "from"),
        ("/notifications", "event"),
        ("/payments", "from"),
        ("/payments", "provider"),
        ("/invoices", "to"),
        ("/invoices", "kind"),
    ],
)
def test_a_nul_character_in_any_query_string_is_422(http, salon, path, param):
    query = {param: "2027-05-04\x00"}
    if path == "/availability":
        query.update({"service_id": str(salon.service.id), "to": "2027-05-04"})
    response = http.get(path.format(staff=salon.nadia.id), query_string=query)
    assert param in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize(
    "path", ["/closures", "/staff/{staff}/time-off", "/bookings", "/payments", "/invoices"]
)
@pytest.mark.parametrize("bound", ["from", "to"])
def test_a_query_instant_without_an_offset_is_422(http, salon, path, bound):
    response = http.get(
        path.format(staff=salon.nadia.id), query_string={bound: "2027-05-04T10:00:00"}
    )
    assert bound in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize(
    "path", ["/closures", "/staff/{staff}/time-off", "/bookings", "/payments", "/invoices"]
)
def test_a_query_instant_with_an_offset_or_a_local_date_is_taken(http, salon, path):
    for value in ("2027-05-04T10:00:00+01:00", "2027-05-04T09:00:00Z", "2027-05-04"):
        response = http.get(path.format(staff=salon.nadia.id), query_string={"from": value})
        assert response.status_code == 200, (value, response.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/bookings", "/public/bookings"])
@pytest.mark.parametrize(
    "body",
    [
        "[" * 200_000 + "]" * 200_000,  # deeper than the parser can go
        json.dumps({"notes": json.loads("[" * 33 + "]" * 33)}),  # parses, but 34 levels deep
    ],
    ids=["beyond-the-parser", "34-levels"],
)
def test_a_body_nested_too_deeply_is_400_invalid_json_not_a_500(http, salon, path, body):
    response = http._call("POST", path, data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


def test_a_body_as_deep_as_the_api_allows_is_validated_field_by_field(http, salon):
    body = http.booking_body(salon, notes=json.loads("[" * 31 + "]" * 31))  # 32 levels
    response = http._call(
        "POST", "/bookings", data=json.dumps(body), content_type="application/json"
    )
    assert_problem(response, 422, "validation_error")
    assert "notes" in response.get_json()["errors"]


@pytest.mark.parametrize(
    "value",
    ["2027-W18-2T11:00:00+01:00", "2027-124T11:00:00+01:00", "20270504T110000+0100"],
)
def test_instants_must_have_rfc_3339_s_shape(http, salon, value):
    body = {**http.booking_body(salon), "starts_at": value}
    response = http.post("/bookings", body)
    assert_problem(response, 422, "validation_error")
    assert "starts_at" in response.get_json()["errors"]
