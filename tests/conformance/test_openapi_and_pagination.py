"""The OpenAPI document against API.md, and the pagination convention."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conformance.conftest import PAGINATION_KEYS, assert_problem, pagination

# Every endpoint API.md lists, as (METHOD, path) with the document's parameter spelling.
ENDPOINTS = {
    # health and auth
    ("GET", "/healthz"), ("GET", "/readyz"),
    ("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password/forgot"), ("POST", "/api/v1/auth/password/reset"),
    ("POST", "/api/v1/auth/email/verify"), ("GET", "/api/v1/me"),
    # tenants and members
    ("POST", "/api/v1/tenants"), ("GET", "/api/v1/tenants"),
    ("GET", "/api/v1/tenants/{slug}"), ("PATCH", "/api/v1/tenants/{slug}"),
    ("GET", "/api/v1/tenants/{slug}/domains"), ("POST", "/api/v1/tenants/{slug}/domains"),
    ("DELETE", "/api/v1/tenants/{slug}/domains/{*}"),
    ("GET", "/api/v1/members"), ("POST", "/api/v1/members"),
    ("PATCH", "/api/v1/members/{user_id}"), ("DELETE", "/api/v1/members/{user_id}"),
    # catalog
    ("GET", "/api/v1/service-categories"), ("POST", "/api/v1/service-categories"),
    ("GET", "/api/v1/service-categories/{*}"), ("PATCH", "/api/v1/service-categories/{*}"),
    ("DELETE", "/api/v1/service-categories/{*}"),
    ("GET", "/api/v1/services"), ("POST", "/api/v1/services"),
    ("GET", "/api/v1/services/{*}"), ("PATCH", "/api/v1/services/{*}"),
    ("DELETE", "/api/v1/services/{*}"),
    ("GET", "/api/v1/staff"), ("POST", "/api/v1/staff"),
    ("GET", "/api/v1/staff/{*}"), ("PATCH", "/api/v1/staff/{*}"), ("DELETE", "/api/v1/staff/{*}"),
    ("PUT", "/api/v1/staff/{*}/working-hours"), ("GET", "/api/v1/staff/{*}/working-hours"),
    ("PUT", "/api/v1/staff/{*}/date-overrides/{*}"),
    ("DELETE", "/api/v1/staff/{*}/date-overrides/{*}"),
    ("GET", "/api/v1/staff/{*}/date-overrides"),
    ("GET", "/api/v1/staff/{*}/time-off"), ("POST", "/api/v1/staff/{*}/time-off"),
    ("GET", "/api/v1/staff/{*}/time-off/{*}"), ("PATCH", "/api/v1/staff/{*}/time-off/{*}"),
    ("DELETE", "/api/v1/staff/{*}/time-off/{*}"),
    ("GET", "/api/v1/closures"), ("POST", "/api/v1/closures"),
    ("GET", "/api/v1/closures/{*}"), ("PATCH", "/api/v1/closures/{*}"),
    ("DELETE", "/api/v1/closures/{*}"),
    # availability and bookings
    ("GET", "/api/v1/availability"), ("GET", "/api/v1/public/availability"),
    ("POST", "/api/v1/bookings"), ("POST", "/api/v1/public/bookings"),
    ("GET", "/api/v1/bookings"), ("GET", "/api/v1/bookings/{*}"),
    ("POST", "/api/v1/bookings/{*}/confirm"), ("POST", "/api/v1/bookings/{*}/cancel"),
    ("POST", "/api/v1/bookings/{*}/complete"), ("POST", "/api/v1/bookings/{*}/no-show"),
    ("POST", "/api/v1/bookings/{*}/reschedule"), ("GET", "/api/v1/bookings/{*}/events"),
    ("GET", "/api/v1/public/bookings/{manage_token}"),
    ("POST", "/api/v1/public/bookings/{manage_token}/cancel"),
    ("POST", "/api/v1/public/bookings/{manage_token}/reschedule"),
    # customers
    ("GET", "/api/v1/customers"), ("POST", "/api/v1/customers"),
    ("GET", "/api/v1/customers/{*}"), ("PATCH", "/api/v1/customers/{*}"),
    ("DELETE", "/api/v1/customers/{*}"), ("GET", "/api/v1/customers/{*}/consents"),
    ("GET", "/api/v1/customers/{*}/bookings"), ("GET", "/api/v1/customers/{*}/export"),
    ("POST", "/api/v1/customers/{*}/erase"),
    # notifications
    ("GET", "/api/v1/notification-settings"), ("PUT", "/api/v1/notification-settings"),
    ("GET", "/api/v1/notification-templates"),
    ("PUT", "/api/v1/notification-templates/{event}/{channel}/{locale}"),
    ("DELETE", "/api/v1/notification-templates/{event}/{channel}/{locale}"),
    ("POST", "/api/v1/notification-templates/{event}/{channel}/{locale}/preview"),
    ("GET", "/api/v1/notifications"), ("GET", "/api/v1/bookings/{*}/notifications"),
    ("POST", "/api/v1/notifications/{*}/retry"),
    # payments
    ("GET", "/api/v1/payment-settings"), ("PUT", "/api/v1/payment-settings"),
    ("GET", "/api/v1/payments"), ("GET", "/api/v1/payments/{*}"),
    ("POST", "/api/v1/bookings/{*}/payments"), ("POST", "/api/v1/payments/{*}/refunds"),
    ("GET", "/api/v1/invoices"), ("GET", "/api/v1/invoices/{*}"),
    ("GET", "/api/v1/invoices/{*}/pdf"),
    ("GET", "/api/v1/public/bookings/{manage_token}"),
    ("POST", "/api/v1/public/bookings/{manage_token}/pay"),
    ("POST", "/api/v1/public/payments/{*}/paypal/capture"),
    # webhooks
    ("POST", "/webhooks/stripe/{tenant_slug}"), ("POST", "/webhooks/paypal/{tenant_slug}"),
    ("POST", "/webhooks/twilio/status"), ("POST", "/webhooks/twilio/inbound"),
}  # fmt: skip
WEBHOOKS = {p for m, p in ENDPOINTS if p.startswith("/webhooks/")}
# API.md: "every template in force, in one unpaginated list"; the week is one document.
UNPAGINATED = {"/api/v1/notification-templates", "/api/v1/staff/{staff_id}/working-hours"}


@pytest.fixture(scope="module")
def spec(app) -> dict[str, Any]:
    return app.test_client().get("/api/openapi.json").get_json()


def resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path, operation


def _pattern(path: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in re.split(r"(\{[^}]*\})", path)]
    regex = "".join("\\{[^}/]+\\}" if p.startswith("\\{") else p for p in parts)
    return re.compile(f"^{regex}$")


def test_every_endpoint_of_api_md_is_in_the_document_with_its_method(spec):
    documented = [(m, p) for m, p, _ in operations(spec)]
    missing = []
    for method, path in sorted(ENDPOINTS):
        expected = _pattern(path.replace("{*}", "{x}"))
        if not any(m == method and expected.match(p) for m, p in documented):
            missing.append(f"{method} {path}")
    assert missing == []


def test_every_api_operation_documents_its_errors_as_problem_details(spec):
    bad = []
    for method, path, operation in operations(spec):
        if path in {"/healthz", "/readyz"}:
            continue
        errors = {
            code: resolve(spec, r) for code, r in operation["responses"].items() if code[0] in "45"
        }
        if not errors:
            bad.append(f"{method} {path}: no error documented")
            continue
        for code, response in errors.items():
            content = response.get("content", {})
            if "application/problem+json" not in content:
                bad.append(f"{method} {path} {code}: {sorted(content)}")
    assert bad == []


# Successful answers that are not JSON documents: PDF, TwiML, and the probes' plain bodies.
NON_JSON_SUCCESS = {"/api/v1/invoices/{invoice_id}/pdf"}


def test_every_api_operation_documents_its_success_schema(spec):
    bad = []
    for method, path, operation in operations(spec):
        if not path.startswith("/api/v1/") or path in NON_JSON_SUCCESS:
            continue
        for code, response in operation["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            content = resolve(spec, response).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if not schema:
                bad.append(f"{method} {path} {code}")
    assert bad == []


def test_operations_with_a_body_document_422_and_token_ones_401(spec):
    bad = []
    for method, path, operation in operations(spec):
        if not path.startswith("/api/v1/"):
            continue
        responses = operation["responses"]
        body = operation.get("requestBody")
        if (
            body
            and "application/json" in resolve(spec, body)["content"]
            and "422" not in (responses)
        ):
            bad.append(f"{method} {path}: body without 422")
        if operation.get("security") and "401" not in responses:
            bad.append(f"{method} {path}: token without 401")
    assert bad == []


def test_the_webhooks_tag_exists_once_and_holds_the_webhooks(spec):
    tags = [t["name"] for t in spec.get("tags", [])]
    assert tags.count("webhooks") == 1
    for _method, path, operation in operations(spec):
        if path.startswith("/webhooks/"):
            assert operation.get("tags") == ["webhooks"], path
    documented = {p for _, p, _ in operations(spec) if p.startswith("/webhooks/")}
    assert {p for p in WEBHOOKS} <= documented


def test_the_webhooks_document_invalid_signature_as_400(spec):
    for path in WEBHOOKS:
        responses = spec["paths"][path]["post"]["responses"]
        assert "400" in responses, path


# --- string lengths -------------------------------------------------------------------------------

NON_TEXT_FORMATS = {"uuid", "date-time", "date", "password", "binary"}


def _unbounded(spec, schema, where, found, depth=0):
    schema = resolve(spec, schema)
    if not isinstance(schema, dict) or depth > 20:
        return
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            _unbounded(spec, sub, where, found, depth + 1)
    kind = schema.get("type")
    if (
        kind == "string"
        and "maxLength" not in schema
        and "enum" not in schema
        and schema.get("format") not in NON_TEXT_FORMATS
    ):
        found.append(where)
    for name, sub in schema.get("properties", {}).items():
        _unbounded(spec, sub, f"{where}.{name}", found, depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):
        _unbounded(spec, schema["additionalProperties"], f"{where}.*", found, depth + 1)
    if "items" in schema:
        _unbounded(spec, schema["items"], f"{where}[]", found, depth + 1)


def unbounded_strings(spec, tag):
    found: list[str] = []
    for method, path, operation in operations(spec):
        if tag not in operation.get("tags", []):
            continue
        body = operation.get("requestBody")
        if body:
            for content in resolve(spec, body)["content"].values():
                _unbounded(spec, content["schema"], f"{method} {path} body", found)
        for reference in operation.get("parameters", []):
            parameter = resolve(spec, reference)
            if parameter.get("in") in {"query", "header"} and "schema" in parameter:
                where = f"{method} {path} {parameter['in']}:{parameter['name']}"
                _unbounded(spec, parameter["schema"], where, found)
    return found


@pytest.mark.parametrize(
    "tag",
    [
        "users",
        "tenants",
        "catalog",
        "staff",
        "customers",
        "bookings",
        "Availability",
        "notifications",
        "payments",
        "webhooks",
    ],
)
def test_request_strings_state_a_maximum_length(spec, tag):
    assert unbounded_strings(spec, tag) == []


# --- pagination -----------------------------------------------------------------------------------


def list_operations(spec):
    for method, path, operation in operations(spec):
        if method != "GET":
            continue
        ok = resolve(spec, operation["responses"].get("200", {}))
        for content in ok.get("content", {}).values():
            if resolve(spec, content.get("schema", {})).get("type") == "array":
                yield path, operation, ok


@pytest.mark.parametrize(
    "tag",
    [
        "users", "tenants", "catalog", "staff", "customers",
        "bookings",
        "notifications", "payments",
    ],
)  # fmt: skip
def test_every_list_is_paginated_in_the_document(spec, tag):
    bad = []
    for path, operation, ok in list_operations(spec):
        if tag not in operation["tags"] or path in UNPAGINATED:
            continue
        names = {resolve(spec, p).get("name") for p in operation.get("parameters", [])}
        if not {"page", "page_size"} <= names or "X-Pagination" not in ok.get("headers", {}):
            bad.append(path)
    assert bad == []


def test_page_size_is_at_most_100(http):
    assert http.get("/services", query_string={"page_size": 100}).status_code == 200
    response = http.get("/services", query_string={"page_size": 101})
    assert "page_size" in assert_problem(response, 422, "validation_error")["errors"]


@pytest.mark.parametrize("params", [{"page": 0}, {"page_size": 0}, {"page": "x"}, {"page": -1}])
def test_bad_pagination_arguments_are_422(http, params):
    assert_problem(http.get("/services", query_string=params), 422, "validation_error")


@pytest.fixture
def five_categories(http):
    for i in range(5):
        http.ok("POST", "/service-categories", 201, json={"name": f"C{i}", "position": i})


def test_a_middle_page_carries_every_pagination_key(http, five_categories):
    response = http.get("/service-categories", query_string={"page": 2, "page_size": 2})
    meta = pagination(response)
    assert set(meta) == PAGINATION_KEYS
    assert meta == {
        "total": 5, "total_pages": 3, "page": 2, "first_page": 1, "last_page": 3,
        "previous_page": 1, "next_page": 3,
    }  # fmt: skip
    assert [c["name"] for c in response.get_json()] == ["C2", "C3"]


def test_the_page_size_and_page_select_the_items(http, five_categories):
    response = http.get("/service-categories", query_string={"page": 3, "page_size": 2})
    assert [c["name"] for c in response.get_json()] == ["C4"]
    meta = pagination(response)
    assert (meta["total"], meta["page"], meta["last_page"]) == (5, 3, 3)


@pytest.mark.parametrize("page", [1, 3])
def test_edge_pages_carry_every_pagination_key(http, five_categories, page):
    response = http.get("/service-categories", query_string={"page": page, "page_size": 2})
    meta = pagination(response)
    assert set(meta) == PAGINATION_KEYS
    assert meta["previous_page"] == (None if page == 1 else page - 1)
    assert meta["next_page"] == (2 if page == 1 else None)


def test_an_empty_list_carries_every_pagination_key(http):
    response = http.get("/service-categories")
    assert response.get_json() == []
    meta = pagination(response)
    assert set(meta) == PAGINATION_KEYS
    assert (meta["total"], meta["page"]) == (0, 1)


def test_a_page_past_the_end_is_empty_and_points_back_to_the_last_page(http, five_categories):
    response = http.get("/service-categories", query_string={"page": 7, "page_size": 2})
    assert response.status_code == 200 and response.get_json() == []
    meta = pagination(response)
    assert (meta["page"], meta["last_page"], meta["previous_page"], meta["next_page"]) == (
        7, 3, 3, None,
    )  # fmt: skip


@pytest.mark.parametrize("path", ["/service-categories", "/customers", "/tenants"])
def test_a_page_number_beyond_any_offset_is_an_empty_page(http, five_categories, path):
    # (page - 1) * page_size would not fit PostgreSQL's bigint OFFSET.
    response = http.get(path, query_string={"page": 10**20, "page_size": 2})
    assert response.status_code == 200 and response.get_json() == []
    assert pagination(response)["page"] == 10**20


def test_the_default_page_size_is_20(http):
    for i in range(21):
        http.ok("POST", "/service-categories", 201, json={"name": f"C{i}"})
    response = http.get("/service-categories")
    assert len(response.get_json()) == 20
    assert json.loads(response.headers["X-Pagination"])["total_pages"] == 2


LISTS = [
    "/members", "/tenants", "/service-categories", "/services", "/staff", "/closures",
    "/customers", "/bookings", "/notifications", "/payments", "/invoices",
]  # fmt: skip


@pytest.mark.parametrize("path", LISTS)
def test_every_list_answers_with_an_x_pagination_header(http, path):
    response = http.get(path, query_string={"page": 1, "page_size": 5})
    meta = pagination(response)
    assert isinstance(meta["total"], int)
    assert isinstance(meta["total_pages"], int)


@pytest.mark.parametrize("path", LISTS)
def test_every_list_refuses_a_page_size_over_100(http, path):
    response = http.get(path, query_string={"page_size": 101})
    assert "page_size" in assert_problem(response, 422, "validation_error")["errors"]


# --- request bodies in the document ---------------------------------------------------------------

SERVER_OWNED = {"id", "status", "created_at", "updated_at", "manage_token"}


def _objects(spec, schema, where, found, depth=0):
    schema = resolve(spec, schema)
    if not isinstance(schema, dict) or depth > 20:
        return
    if schema.get("type") == "object" or "properties" in schema:
        found.append((where, schema))
        for name, sub in schema.get("properties", {}).items():
            _objects(spec, sub, f"{where}.{name}", found, depth + 1)
    if "items" in schema:
        _objects(spec, schema["items"], f"{where}[]", found, depth + 1)


def request_objects(spec):
    for method, path, operation in operations(spec):
        body = operation.get("requestBody")
        if not body or not path.startswith("/api/v1/"):
            continue
        content = resolve(spec, body)["content"].get("application/json")
        if content:
            found: list[Any] = []
            _objects(spec, content["schema"], f"{method} {path}", found)
            yield from found


def test_request_bodies_refuse_unknown_fields_in_the_document(spec):
    open_objects = [
        where
        for where, schema in request_objects(spec)
        if schema.get("properties") and schema.get("additionalProperties") is not False
    ]
    assert open_objects == []


def test_no_request_body_takes_a_server_owned_field(spec):
    bad = []
    for where, schema in request_objects(spec):
        owned = SERVER_OWNED & set(schema.get("properties", {}))
        # A service's price is the catalog's own input; a booking's is server-owned.
        if "price" in schema.get("properties", {}) and "/services" not in where:
            owned.add("price")
        if owned:
            bad.append(f"{where}: {sorted(owned)}")
    assert bad == []
