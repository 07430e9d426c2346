"""Headers every response carries: security headers, request id, CORS only where allowed."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
from urllib.parse import urlsplit

import pytest

from bookme.core.db import session
from bookme.tenants.models import TenantDomain


def assert_secure(response):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] in {"strict-origin-when-cross-origin", "no-referrer"}
    assert "Server" not in headers
    assert "X-Powered-By" not in headers
    assert headers["X-Request-ID"]


@pytest.fixture
def unexpected(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_UNEXPECTED", False)
    return monkeypatch


def test_every_kind_of_response_carries_the_security_headers(app, client, tenant, unexpected):
    owner = tenant.headers()
    responses = {
        "200 json": client.get("/healthz"),
        "200 list": client.get("/api/v1/tenants", headers=owner),
        "201": client.post(
            f"/api/v1/tenants/{tenant.slug}/domains",
            json={"domain": "h.example.com"},
            headers=owner,
        ),
        "400": client.post(
            "/api/v1/tenants", data="{", content_type="application/json", headers=owner
        ),
        "401": client.get("/api/v1/tenants"),
        "403": client.patch("/api/v1/tenants/x-other", json={}, headers=owner),
        "404": client.get("/api/v1/nothing"),
        "405": client.delete("/api/v1/tenants"),
        "422": client.post("/api/v1/tenants", json={}, headers=owner),
        "openapi": client.get("/api/openapi.json"),
        "docs": client.get("/api/docs"),
        "preflight": client.options(
            "/api/v1/tenants",
            headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
        ),
    }
    unexpected.setitem(app.view_functions, "health.healthz", lambda: 1 / 0)
    responses["500"] = client.get("/healthz")
    assert responses["201"].status_code == 201
    assert responses["500"].status_code == 500
    for name, response in responses.items():
        try:
            assert_secure(response)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{name}: {dict(response.headers)}") from exc


def test_the_manage_page_sends_no_referrer(client, db):
    # Its URL is a credential: it must not leak to other sites through Referer.
    assert client.get("/m/some-token").headers["Referrer-Policy"] == "no-referrer"


# --- request ids --------------------------------------------------------------------------------


def test_a_well_formed_request_id_is_echoed(client, db):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a:42.b_c"})
    assert response.headers["X-Request-ID"] == "edge-7f3a:42.b_c"


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "inject\r\nX-Evil: 1", "é"])
def test_a_missing_or_malformed_request_id_is_replaced(client, db, incoming):
    headers = {"X-Request-ID": incoming} if incoming is not None else {}
    try:
        response = client.get("/healthz", headers=headers)
    except ValueError:  # werkzeug refuses to send a header with a newline at all
        return
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert generated != client.get("/healthz").headers["X-Request-ID"]


# --- CORS ---------------------------------------------------------------------------------------


@pytest.fixture
def cors_origins(app, monkeypatch):
    settings = dataclasses.replace(
        app.config["BOOKME"], cors_origins=("https://app.bookme.ma", "http://localhost:5173")
    )
    monkeypatch.setitem(app.config, "BOOKME", settings)


def test_an_origin_the_operator_allows_gets_credentials_cors(client, db, cors_origins):
    response = client.get("/healthz", headers={"Origin": "https://app.bookme.ma"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.bookme.ma"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Pagination" in response.headers["Access-Control-Expose-Headers"]
    assert "Origin" in response.headers.getlist("Vary")


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "https://app.bookme.ma.evil.example",
        "http://app.bookme.ma",
        "https://APP.bookme.ma.",
        "*",
    ],
)
def test_other_origins_get_no_cors_headers(client, db, cors_origins, origin):
    response = client.get("/healthz", headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_tenants_own_domain_is_an_allowed_origin(client, tenant):
    session().add(TenantDomain(tenant_id=tenant.id, domain="booking.salon.ma"))
    session().commit()
    for origin in ("https://booking.salon.ma", "http://booking.salon.ma:8080"):
        response = client.get("/healthz", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
    response = client.get("/healthz", headers={"Origin": "https://other.salon.ma"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_tenants_domain_is_an_allowed_origin_for_that_tenant_only(client, tenant, other_tenant):
    session().add(TenantDomain(tenant_id=other_tenant.id, domain="booking.other.ma"))
    session().commit()
    origin = {"Origin": "https://booking.other.ma"}
    theirs = client.get("/api/v1/services", headers={**other_tenant.headers(), **origin})
    assert theirs.status_code == 200
    assert theirs.headers["Access-Control-Allow-Origin"] == "https://booking.other.ma"
    # The same origin reading another business's data: no CORS answer, the browser keeps it.
    mine = client.get("/api/v1/services", headers={**tenant.headers(), **origin})
    assert mine.status_code == 200
    assert "Access-Control-Allow-Origin" not in mine.headers
    # A preflight names no tenant: any business's own domain may ask.
    preflight = client.options(
        "/api/v1/services", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://booking.other.ma"


def test_preflight_answers_allowed_origins_with_methods_and_headers(client, db, cors_origins):
    response = client.options(
        "/api/v1/tenants",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, X-Tenant",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"]
    for header in ("Authorization", "X-Tenant", "Idempotency-Key", "Content-Type"):
        assert header in allowed_headers
    refused = client.options(
        "/api/v1/tenants",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Methods" not in refused.headers


def test_cors_never_answers_a_wildcard(app, client, db, cors_origins):
    for path in ("/healthz", "/api/openapi.json", "/api/v1/tenants"):
        for origin in (None, "https://app.bookme.ma", "https://evil.example"):
            headers = {"Origin": origin} if origin else {}
            assert (
                client.get(path, headers=headers).headers.get("Access-Control-Allow-Origin") != "*"
            )


# --- bodies from a real server ------------------------------------------------------------------


def test_a_real_server_answers_a_chunked_body_over_the_limit_with_413(live_server, db):
    url = urlsplit(live_server)
    body = b'{"email": "a@example.com", "full_name": "' + b"x" * (1024 * 1024) + b'"}'
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/auth/register",
            body=(body[i : i + 65536] for i in range(0, len(body), 65536)),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert (response.status, answer["code"]) == (413, "payload_too_large")
