"""Every error under /api is a problem+json with a stable code, never a page or a trace."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bookme.core.db import session
from tests.conftest import access_token, make_user

PROBLEM = "application/problem+json"


@pytest.fixture
def headers(db):
    user = make_user()
    token = access_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"https://bookme.ma/problems/{code}"
    assert body["title"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower() and ".py" not in text
    return body


# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{oops", "application/json"),
        ('{"slug": "a",}', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
        ('{"slug": "ok-slug", "name": "X"}', "text/plain"),
        ("slug=ok-slug&name=X", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_invalid_json(client, headers, data, content_type):
    response = client.post("/api/v1/tenants", data=data, content_type=content_type, headers=headers)
    assert_problem(response, 400, "invalid_json")


def test_validation_errors_are_422_field_by_field(client, headers):
    response = client.post(
        "/api/v1/tenants", json={"slug": "Bad Slug", "locale": "xx"}, headers=headers
    )
    body = assert_problem(response, 422, "validation_error")
    assert set(body["errors"]) == {"slug", "name", "locale"}
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_unknown_fields_are_422_naming_them(client, headers):
    response = client.post(
        "/api/v1/tenants",
        json={"slug": "good-slug", "name": "X", "is_admin": True},
        headers=headers,
    )
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == ["is_admin"]


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "good-slug", "name": "Nul\x00here"},
        {"slug": "good-slug", "name": "X", "settings": {"cancellation_cutoff_hours": "1\x00"}},
    ],
)
def test_a_nul_character_in_any_string_is_422(client, headers, body):
    response = client.post("/api/v1/tenants", json=body, headers=headers)
    assert_problem(response, 422, "validation_error")


def test_an_empty_body_where_one_is_needed_is_422(client, headers):
    response = client.post("/api/v1/tenants", headers=headers)
    body = assert_problem(response, 422, "validation_error")
    assert {"slug", "name"} <= set(body["errors"])


def test_a_body_over_one_mebibyte_is_413(client, headers):
    big = '{"slug": "big-slug", "name": "' + "x" * (1024 * 1024) + '"}'
    response = client.post(
        "/api/v1/tenants", data=big, content_type="application/json", headers=headers
    )
    assert_problem(response, 413, "payload_too_large")


def test_a_body_just_under_the_limit_is_read(client, headers):
    body = '{"slug": "big-slug", "name": "' + "x" * (1024 * 1024 - 100) + '"}'
    response = client.post(
        "/api/v1/tenants", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 422  # read and validated (the name is too long), not 413


# --- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/api/v2/tenants", "/api/v1/tenants/a/b/c", "/nowhere"]
)
def test_unknown_paths_are_404_problems(client, path):
    assert_problem(client.get(path), 404, "not_found")


def test_a_wrong_method_is_405_with_allow(client):
    response = client.put("/api/v1/tenants")
    assert_problem(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"]
)
def test_a_missing_or_malformed_token_is_401(client, db, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    assert_problem(client.get("/api/v1/tenants", headers=headers), 401, "unauthorized")


# --- the unexpected -----------------------------------------------------------------------------


@pytest.fixture
def unexpected(app, monkeypatch):
    """Production behaviour for unexpected errors (tests re-raise them by default)."""
    monkeypatch.setitem(app.config, "PROPAGATE_UNEXPECTED", False)
    return monkeypatch


def test_an_unexpected_error_is_a_500_problem_with_no_trace(app, client, unexpected, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals: /srv/bookme/app.py line 12")

    unexpected.setitem(app.view_functions, "health.healthz", explode)
    with caplog.at_level("ERROR", logger="bookme.errors"):
        response = client.get("/healthz", headers={"X-Request-ID": "req-500"})
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["detail"] == "An unexpected error occurred; it has been logged."
    assert response.headers["X-Request-ID"] == "req-500"
    assert any("secret internals" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_a_database_error_never_reaches_the_client(app, client, db, unexpected):
    def bad_sql(*args, **kwargs):
        session().execute(sa.text("SELECT no_such_column FROM public.tenants"))

    unexpected.setitem(app.view_functions, "health.healthz", bad_sql)
    response = client.get("/healthz")
    assert_problem(response, 500, "internal_error")
    assert "no_such_column" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        # uq_tenant_domains_domain is mapped by its name to domain_taken ...
        (
            "INSERT INTO public.tenant_domains (tenant_id, domain)"
            " VALUES (:t, 'dup.example.com'), (:t, 'dup.example.com')",
            "domain_taken",
        ),
        # ... and a unique violation nobody mapped is still a 409, not a 500.
        (
            "UPDATE public.tenants SET schema_name = (SELECT schema_name FROM public.tenants"
            " WHERE id <> :t LIMIT 1) WHERE id = :t",
            "conflict",
        ),
    ],
)
def test_unique_violations_are_409_by_constraint_name(
    app, client, db, unexpected, tenant, other_tenant, sql, code
):
    from bookme.core.db import transactional

    @transactional
    def violate() -> None:
        session().execute(sa.text(sql), {"t": tenant.id})

    unexpected.setitem(app.view_functions, "health.healthz", lambda *a, **k: violate())
    response = client.get("/healthz")
    body = assert_problem(response, 409, code)
    assert "duplicate key" not in response.get_data(as_text=True)
    assert body["detail"]
