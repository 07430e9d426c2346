"""Every error under /api is a problem+json with a stable code, never a page or a trace."""

from __future__ import annotations

import io
import json
import math

import pytest
import sqlalchemy as sa
from flask import Flask

from bookme.core import errors, http
from bookme.core.db import session
from bookme.users.tokens import issue_tokens
from tests.conftest import access_token, make_user
from tests.factories import make_staff, use_tenant

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


LIMIT = 1024 * 1024


def _chunked(client, path, body, headers):
    """`body` as a server hands the app a `Transfer-Encoding: chunked` one: without a
    Content-Length, on a stream the server terminates (`wsgi.input_terminated`)."""
    return client.post(
        path,
        input_stream=io.BytesIO(body.encode()),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _tenant_body(size):
    """A tenant body of exactly `size` bytes, its name too long to be valid."""
    head, tail = '{"slug": "big-slug", "name": "', '"}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def test_a_chunked_body_over_one_mebibyte_is_413_as_with_a_content_length(client, headers):
    response = _chunked(client, "/api/v1/tenants", _tenant_body(LIMIT + 4096), headers)
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(("size", "status"), [(LIMIT - 100, 422), (LIMIT, 422), (LIMIT + 1, 413)])
def test_a_chunked_body_is_read_up_to_the_limit_and_refused_one_byte_past_it(
    client, headers, size, status
):
    response = _chunked(client, "/api/v1/tenants", _tenant_body(size), headers)
    assert response.status_code == status, response.get_data(as_text=True)
    sent_with_a_length = client.post(
        "/api/v1/tenants", data=_tenant_body(size), content_type="application/json", headers=headers
    )
    assert sent_with_a_length.status_code == status


HUGE = "9" * 5000  # more digits than Python's int("…") takes (sys.get_int_max_str_digits)


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("duration_minutes", HUGE),  # a bounded Integer
        ("duration_minutes", "-" + HUGE),
        ("buffer_after_minutes", HUGE),
        ("price", HUGE),  # Money: a decimal string, numbers taken too
        ("name", HUGE),  # a String
        ("duration_minutes", "1e400"),  # a float too large for one: read the same way
    ],
)
def test_an_integer_too_long_for_python_is_valid_json_that_its_field_refuses(
    client, tenant, field, literal
):
    valid = {"name": "Coupe", "duration_minutes": 30, "price": "80.00"}
    raw = json.dumps({**valid, field: "@"}).replace('"@"', literal)
    response = client.post(
        "/api/v1/services", data=raw, content_type="application/json", headers=tenant.headers()
    )
    body = assert_problem(response, 422, "validation_error")
    assert list(body["errors"]) == [field]


def test_the_rate_limit_keys_read_a_long_integer_as_the_parser_does(app):
    # request.get_json (the per-account and per-phone keys) must not see no body where the
    # view sees one.
    assert app.json.loads('{"phone": "+212612345678", "n": -' + HUGE + "}") == {
        "phone": "+212612345678",
        "n": -math.inf,
    }
    assert app.json.loads('{"n": 42}') == {"n": 42}


NUL = "NUL characters are not allowed."


def _message_paths(errors, path=()):
    """The key path to each list of messages, as a set."""
    if isinstance(errors, list):
        return {path}
    return {p for key, value in errors.items() for p in _message_paths(value, (*path, key))}


@pytest.fixture
def staff_id(tenant):
    use_tenant(tenant)
    return make_staff().id


def _interval(weekday, start):
    return {"weekday": weekday, "start": start, "end": "10:00"}


@pytest.mark.parametrize(
    ("path", "nul_body", "other_body"),
    [
        (  # a nested object
            "/api/v1/tenants",
            {"slug": "good-slug", "name": "X", "settings": {"cancellation_cutoff_hours": "1\x00"}},
            {"slug": "good-slug", "name": "X", "settings": {"cancellation_cutoff_hours": "x"}},
        ),
        (  # an item of a list in an object
            "/api/v1/customers",
            {"full_name": "Salma", "tags": ["vip", "b\x00"]},
            {"full_name": "Salma", "tags": ["vip", 5]},
        ),
        (  # a field of an object in a list body
            "/api/v1/staff/{staff_id}/working-hours",
            [_interval(1, "09:00"), _interval(2, "9\x00")],
            [_interval(1, "09:00"), _interval(2, "9")],
        ),
    ],
    ids=["nested-object", "list-item", "list-body"],
)
def test_a_nul_error_has_the_shape_of_any_other_error_of_its_field(
    client, tenant, staff_id, path, nul_body, other_body
):
    method = client.put if "working-hours" in path else client.post
    url = path.format(staff_id=staff_id)
    nul = assert_problem(
        method(url, json=nul_body, headers=tenant.headers()), 422, "validation_error"
    )
    other = method(url, json=other_body, headers=tenant.headers()).get_json()
    assert _message_paths(nul["errors"]) == _message_paths(other["errors"])
    for message_path in _message_paths(nul["errors"]):
        messages = nul["errors"]
        for key in message_path:
            messages = messages[key]
        assert messages == [NUL]


@pytest.mark.parametrize("body", ['{"weekday": 1, "start": "09:00", "end": "10:00"}', "null", "7"])
def test_a_list_body_that_is_not_a_json_array_is_400_as_a_non_object_is_elsewhere(
    client, tenant, staff_id, body
):
    # API.md: invalid_json is a body that is not JSON or not the JSON type the endpoint takes.
    response = client.put(
        f"/api/v1/staff/{staff_id}/working-hours",
        data=body,
        content_type="application/json",
        headers=tenant.headers(),
    )
    assert_problem(response, 400, "invalid_json")


# --- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/api/v2/tenants", "/api/v1/tenants/a/b/c", "/nowhere"]
)
def test_unknown_paths_are_404_problems(client, path):
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1//me",
        "/api//v1/tenants",
        "/api/v1/tenants//",
        "/api/v1/me/",
        "/api/v1/tenants/",
        "/api/docs/",
        "/api/openapi.json/",
    ],
)
def test_a_doubled_or_trailing_slash_is_a_404_problem_not_a_redirect(client, headers, path):
    response = client.get(path, headers=headers)
    assert_problem(response, 404, "not_found")
    assert "Location" not in response.headers


def test_a_trailing_slash_redirect_is_a_404_problem_under_api_only():
    # No /api rule ends with a slash today; one that did must not redirect with an HTML body.
    bare = Flask(__name__)
    errors.register(bare)
    http.register(bare)
    bare.add_url_rule("/api/v1/folder/", "api_folder", lambda: "folder")
    bare.add_url_rule("/pages/", "pages", lambda: "pages")
    client = bare.test_client()
    assert_problem(client.get("/api/v1/folder"), 404, "not_found")
    assert client.get("/api/v1/folder/").status_code == 200
    assert client.get("/pages").status_code == 308


def test_a_wrong_method_is_405_with_allow(client):
    response = client.put("/api/v1/tenants")
    assert_problem(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b.c",
        "bearer",
        "bearer a.b.c",
        "Bearerx a.b.c",
    ],
)
def test_a_missing_or_malformed_token_is_401(client, db, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    assert_problem(client.get("/api/v1/tenants", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client, db, tenant, scheme):
    # RFC 9110, 11.1: an authentication scheme is a case-insensitive token.
    user = make_user()
    pair = issue_tokens(user)
    db.session.commit()
    me = client.get("/api/v1/me", headers={"Authorization": f"{scheme} {pair['access_token']}"})
    assert me.status_code == 200, me.get_data(as_text=True)
    member = {"Authorization": f"{scheme} {tenant.owner.token}", "X-Tenant": tenant.slug}
    assert client.get("/api/v1/services", headers=member).status_code == 200
    refreshed = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"{scheme} {pair['refresh_token']}"}
    )
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


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
