"""The OpenAPI document: valid, complete, and saying what each operation needs and answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

PROBLEM = "application/problem+json"
NO_TOKEN = {"public", "anonymous"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def spec(app) -> dict[str, Any]:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        node = spec
        for part in parts:
            node = node[part]
    return node


def _documented_rules(app) -> list[tuple[str, str]]:
    """(METHOD, /path/{param}) for every route the API must document."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/v1/", "/webhooks/")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found.extend((method, path) for method in rule.methods - SKIPPED_METHODS)
    return sorted(found)


def test_the_document_is_valid_openapi(spec):
    validate(spec)


def test_every_endpoint_is_documented(app, spec):
    rules = _documented_rules(app)
    assert len(rules) > 10
    missing = [f"{m} {p}" for m, p in rules if m.lower() not in spec["paths"].get(p, {})]
    assert missing == []


def test_every_operation_has_a_summary_and_a_tag(spec):
    bad = [name for name, op in operations(spec) if not op.get("summary") or not op.get("tags")]
    assert bad == []


def test_every_operation_documents_its_errors_as_problem_details(spec):
    problem_schema = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(
        problem_schema["properties"]
    )
    bad = []
    for name, op in operations(spec):
        if name in {"GET /healthz", "GET /readyz"}:  # probes, not under /api: plain JSON
            continue
        errors = {
            code: resolve(spec, r)
            for code, r in op["responses"].items()
            if not code.startswith(("1", "2", "3"))
        }
        if not any(code.startswith("4") for code in errors):
            bad.append(f"{name}: no 4xx documented")
        for code, response in errors.items():
            content = response.get("content", {})
            schema = resolve(spec, content.get(PROBLEM, {}).get("schema", {}))
            # The Problem schema, or one extending it (e.g. a 409 naming the existing record).
            is_problem = {"type", "title", "status", "code"} <= set(schema.get("properties", {}))
            if list(content) != [PROBLEM] or not is_problem:
                bad.append(f"{name} {code}: {list(content)} {schema}")
    assert bad == []


def test_operations_needing_a_token_declare_bearer_auth_and_others_none(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    bad = []
    for name, op in operations(spec):
        access = op.get("x-bookme-access")
        if name.startswith(("GET /healthz", "GET /readyz")) or name.split()[1].startswith(
            "/webhooks/"
        ):
            continue
        if access is None:
            bad.append(f"{name}: no access marker")
        elif access["kind"] in NO_TOKEN:
            if op.get("security") != []:
                bad.append(f"{name}: {access['kind']} but security {op.get('security')}")
        elif op.get("security") != [{"bearerAuth": []}]:
            bad.append(f"{name}: {access['kind']} without bearerAuth")
        elif "401" not in op["responses"]:
            bad.append(f"{name}: takes a token but documents no 401")
    assert bad == []


def test_tenant_scoped_operations_document_the_x_tenant_header(spec):
    assert spec["components"]["parameters"]["XTenant"]["in"] == "header"
    bad = []
    for name, op in operations(spec):
        kind = (op.get("x-bookme-access") or {}).get("kind")
        names = {resolve(spec, p)["name"] for p in op.get("parameters", [])}
        if kind in {"member", "public"} and "X-Tenant" not in names:
            bad.append(name)
        if kind in {"member", "public"} and not {"400", "404"} <= set(op["responses"]):
            bad.append(f"{name}: tenant_required / tenant_not_found not documented")
    assert bad == []


def test_lists_are_paginated_with_the_x_pagination_header(spec):
    lists = 0
    bad = []
    for name, op in operations(spec):
        names = {resolve(spec, p)["name"] for p in op.get("parameters", [])}
        if {"page", "page_size"} <= names:
            lists += 1
            page_size = next(
                resolve(spec, p)
                for p in op["parameters"]
                if resolve(spec, p)["name"] == "page_size"
            )
            if page_size["schema"].get("maximum") != 100:
                bad.append(f"{name}: page_size maximum {page_size['schema'].get('maximum')}")
            if "X-Pagination" not in op["responses"]["200"].get("headers", {}):
                bad.append(f"{name}: no X-Pagination header")
    assert lists >= 3
    assert bad == []


def test_request_and_success_bodies_have_schemas(spec):
    bad = []
    for name, op in operations(spec):
        body = op.get("requestBody")
        if body is not None and not all(c.get("schema") for c in body["content"].values()):
            bad.append(f"{name}: request body without a schema")
        for code, documented in op["responses"].items():
            response = resolve(spec, documented)
            if code.startswith("2") and code != "204":
                content = response.get("content", {})
                if content and not any(c.get("schema") for c in content.values()):
                    bad.append(f"{name} {code}: no schema")
    assert bad == []


def test_tenant_operations_are_fully_described(spec):
    """The tenants module's own operations, checked field by field against API.md."""
    create = spec["paths"]["/api/v1/tenants"]["post"]
    schema = resolve(spec, create["requestBody"]["content"]["application/json"]["schema"])
    assert schema["required"] == ["name", "slug"] or set(schema["required"]) == {"slug", "name"}
    assert schema["properties"]["slug"]["maxLength"] == 63
    assert schema["properties"]["locale"]["enum"] == ["fr", "ar", "en"]
    assert schema["properties"]["timezone"]["default"] == "Africa/Casablanca"
    assert "status" not in schema["properties"]
    assert schema.get("additionalProperties") is False or "additionalProperties" not in schema
    out = resolve(spec, create["responses"]["201"]["content"]["application/json"]["schema"])
    assert {
        "id",
        "slug",
        "name",
        "timezone",
        "currency",
        "locale",
        "status",
        "created_at",
        "settings",
    } <= set(out["properties"])
    assert {"409", "422", "401"} <= set(create["responses"])
    patch = spec["paths"]["/api/v1/tenants/{slug}"]["patch"]
    patch_schema = resolve(spec, patch["requestBody"]["content"]["application/json"]["schema"])
    assert "status" not in patch_schema["properties"]
    settings = resolve(spec, patch_schema["properties"]["settings"])
    cutoff = settings["properties"]["cancellation_cutoff_hours"]
    assert (cutoff["minimum"], cutoff["maximum"], cutoff["default"]) == (0, 720, 24)
    assert patch["x-bookme-access"] == {"kind": "slug_member", "roles": ["owner"]}
    domains = spec["paths"]["/api/v1/tenants/{slug}/domains"]
    assert "X-Pagination" in domains["get"]["responses"]["200"]["headers"]
    assert "409" in domains["post"]["responses"]


def test_an_arguments_schema_given_as_a_class_is_built_once_not_per_request():
    """Declared with a schema class, a view still parses each request with one instance."""
    import marshmallow as ma
    from flask import Flask

    from bookme.core.api import Api, Blueprint

    built = []

    class Echo(ma.Schema):
        word = ma.fields.String(required=True)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    blp = Blueprint("echo", __name__)

    @blp.route("/echo", methods=["POST"])
    @blp.arguments(Echo)
    @blp.response(200, Echo)
    def echo(data: dict[str, Any]) -> dict[str, Any]:
        return data

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    Api(app).register_blueprint(blp)
    parsing = len(built)
    client = app.test_client()
    for word in ("un", "deux", "trois"):
        response = client.post("/echo", json={"word": word})
        assert response.get_json() == {"word": word}
    assert len(built) == parsing
