"""Cross-tenant isolation and access markers, generated from the URL map.

Whatever routes the modules register, every tenant-scoped one is called by tenant A's owner
while addressing tenant B (by `X-Tenant` and by B's subdomain), with ids from A in the path
and a random body: it must answer 403 or 404 and never show B's data; without a token, 401.
Every /api/v1 view must say how it is accessed, so a forgotten decorator fails here.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.routing import IntegerConverter, UUIDConverter

from bookme.core.db import session
from tests.conftest import TenantInfo, add_member

BASE = "bookme.test"
BODY_METHODS = {"POST", "PUT", "PATCH"}
KNOWN_KINDS = {"member", "public", "anonymous", "authenticated", "refresh_token", "slug_member"}
# /api/v1 views allowed to carry no access marker (none today: the auth endpoints are marked
# `anonymous` or `refresh_token`). Adding one here is a reviewed decision.
UNMARKED_ALLOWED: frozenset[str] = frozenset()
# Path values for string parameters that some routes parse (dates, template keys, …).
SAMPLE_VALUES = {
    "day": "2027-03-01",
    "date": "2027-03-01",
    "event": "booking_confirmed",
    "channel": "sms",
    "locale": "fr",
}


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


def routes(app: Flask, *kinds: str) -> list[tuple[Any, str]]:
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1/"):
            continue
        access = getattr(app.view_functions[rule.endpoint], "_bookme_access", None)
        if access is not None and access[0] in kinds:
            found.extend((rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


def _fill(rule: Any, ids_from_a: list[uuid.UUID], slug: str | None = None) -> str:
    values: dict[str, Any] = {}
    for index, name in enumerate(sorted(rule.arguments)):
        converter = rule._converters[name]
        if name in ("slug", "tenant_slug") and slug is not None:
            values[name] = slug
        elif isinstance(converter, UUIDConverter):
            values[name] = ids_from_a[index % len(ids_from_a)]
        elif isinstance(converter, IntegerConverter):
            values[name] = 1
        else:
            values[name] = SAMPLE_VALUES.get(name, "x")
    return rule.build(values, append_unknown=False)[1]


def _random_body(seed: str) -> dict[str, Any]:
    rng = random.Random(seed)
    keys = [
        "name",
        "email",
        "role",
        "starts_at",
        "service_id",
        "staff_id",
        "status",
        "slug",
        "domain",
        "price",
        rng.choice("abcdefgh") * rng.randint(1, 8),
    ]
    values = [
        str(uuid.uuid4()),
        "x" * rng.randint(0, 300),
        rng.randint(-5, 10**6),
        None,
        True,
        ["a", 1],
        {"nested": "y"},
        "2027-03-01T09:00:00+01:00",
        "owner",
    ]
    return {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(1, 5))}


def cross_tenant_failures(
    app: Flask, client: Any, *, token_a: str, ids_from_a: list[uuid.UUID], b: dict[str, str]
) -> tuple[int, list[str]]:
    """(calls made, failures) over every tenant-scoped route of `app`."""
    bearer = {"Authorization": f"Bearer {token_a}"}
    calls: list[tuple[str, Call]] = []
    for rule, method in routes(app, "member"):
        path = _fill(rule, ids_from_a)
        body = _random_body(f"{method} {rule.rule}") if method in BODY_METHODS else None
        calls += [
            ("A's token, X-Tenant B", Call(method, path, {**bearer, "X-Tenant": b["slug"]}, body)),
            (
                "A's token, B's host",
                Call(method, path, {**bearer, "Host": f"{b['slug']}.{BASE}"}, body),
            ),
            ("no token", Call(method, path, {"X-Tenant": b["slug"]}, body)),
        ]
    for rule, method in routes(app, "slug_member"):
        path = _fill(rule, ids_from_a, slug=b["slug"])
        body = _random_body(f"{method} {rule.rule}") if method in BODY_METHODS else None
        calls += [
            ("A's token, B's slug", Call(method, path, bearer, body)),
            ("no token", Call(method, path, {}, body)),
        ]
    failures = []
    for label, call in calls:
        response = client.open(call.path, method=call.method, headers=call.headers, json=call.body)
        text = response.get_data(as_text=True)
        expected = {401} if label == "no token" else {403, 404}
        problem = f"{call.method} {call.path} [{label}] -> {response.status_code}"
        if response.status_code not in expected:
            failures.append(f"{problem}: {text[:200]}")
        elif any(secret in text for secret in b.values() if secret != b["slug"]):
            failures.append(f"{problem} shows B's data: {text[:200]}")
        elif response.mimetype != "application/problem+json":
            failures.append(f"{problem} is not a problem: {response.mimetype}")
    return len(calls), failures


def _secrets_of(tenant: TenantInfo) -> dict[str, str]:
    return {
        "slug": tenant.slug,
        "id": str(tenant.id),
        "owner_id": str(tenant.owner.user_id),
        "owner_email": tenant.owner.email,
    }


def test_no_tenant_scoped_route_answers_for_another_tenant(app, client, tenant, other_tenant):
    staff = add_member(tenant, "staff")
    session().commit()
    calls, failures = cross_tenant_failures(
        app,
        client,
        token_a=tenant.owner.token,
        ids_from_a=[tenant.owner.user_id, staff.user_id, tenant.id],
        b=_secrets_of(other_tenant),
    )
    assert calls >= 30, f"only {calls} calls: are the module blueprints registered?"
    assert failures == [], "\n".join(failures)


def test_a_staff_member_of_a_gets_nothing_from_b_either(app, client, tenant, other_tenant):
    staff = add_member(tenant, "staff")
    session().commit()
    _, failures = cross_tenant_failures(
        app,
        client,
        token_a=staff.token,
        ids_from_a=[staff.user_id, tenant.id],
        b=_secrets_of(other_tenant),
    )
    assert failures == [], "\n".join(failures)


def test_the_isolation_check_catches_a_route_that_leaks():
    leaky = Flask("leaky")

    @leaky.route("/api/v1/things/<uuid:thing_id>", methods=["GET", "PATCH"])
    def thing(thing_id: uuid.UUID) -> Any:
        return jsonify(tenant=request.headers.get("X-Tenant"), owner_email="b-owner@example.com")

    thing._bookme_access = ("member", ("owner",))  # type: ignore[attr-defined]
    secrets = {"slug": "b-salon", "id": str(uuid.uuid4()), "owner_email": "b-owner@example.com"}
    calls, failures = cross_tenant_failures(
        leaky, leaky.test_client(), token_a="t", ids_from_a=[uuid.uuid4()], b=secrets
    )
    assert calls == 6
    assert len(failures) == 6


# --- access markers -----------------------------------------------------------------------------


def unmarked_views(app: Flask) -> list[str]:
    bad = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint in UNMARKED_ALLOWED:
            continue
        access = getattr(app.view_functions[rule.endpoint], "_bookme_access", None)
        if access is None:
            bad.append(f"{rule.rule} ({rule.endpoint}): no access decorator")
        elif access[0] not in KNOWN_KINDS:
            bad.append(f"{rule.rule} ({rule.endpoint}): unknown access kind {access[0]!r}")
    return sorted(bad)


def test_every_api_view_declares_how_it_is_accessed(app):
    assert len(routes(app, *KNOWN_KINDS)) > 20
    assert unmarked_views(app) == []


def test_the_marker_check_catches_a_forgotten_decorator():
    forgetful = Flask("forgetful")
    forgetful.add_url_rule("/api/v1/forgotten", "forgotten", lambda: "")
    marked = lambda: ""  # noqa: E731
    marked._bookme_access = ("sorcery", ())  # type: ignore[attr-defined]
    forgetful.add_url_rule("/api/v1/strange", "strange", marked)
    forgetful.add_url_rule("/elsewhere", "elsewhere", lambda: "")
    assert unmarked_views(forgetful) == [
        "/api/v1/forgotten (forgotten): no access decorator",
        "/api/v1/strange (strange): unknown access kind 'sorcery'",
    ]


def test_token_bearing_routes_refuse_a_tampered_token_before_the_body(
    app, client, tenant, other_tenant
):
    """Forged, unsigned or edited tokens are 401 on every route taking one, whatever the body."""
    import base64

    import jwt as pyjwt

    claims = pyjwt.decode(tenant.owner.token, options={"verify_signature": False})
    forged = pyjwt.encode(claims, "not-the-key-" + "z" * 40, algorithm="HS256")
    unsigned = pyjwt.encode(claims, None, algorithm="none")
    header, _, signature = tenant.owner.token.split(".")
    as_b = json.dumps({**claims, "sub": str(other_tenant.owner.user_id)}).encode()
    edited = ".".join([header, base64.urlsafe_b64encode(as_b).rstrip(b"=").decode(), signature])
    failures = []
    for rule, method in routes(app, "member", "authenticated", "slug_member"):
        path = _fill(rule, [tenant.owner.user_id, tenant.id], slug=tenant.slug)
        body = json.dumps(_random_body(path)) if method in BODY_METHODS else None
        for token in (forged, unsigned, edited):
            response = client.open(
                path,
                method=method,
                data=body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}", "X-Tenant": tenant.slug},
            )
            if response.status_code != 401:
                failures.append(f"{method} {path} -> {response.status_code}")
    assert failures == []
