"""CSRF: every state-changing admin route refuses a request without the session's token;
the token-authenticated API and webhooks never need one."""

from __future__ import annotations

import uuid

import pytest
from werkzeug.routing import AnyConverter, UUIDConverter

from tests.conftest import PASSWORD


def _admin_post_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "POST" not in (rule.methods or ()):
            continue
        values = {}
        for name, converter in rule._converters.items():
            if isinstance(converter, UUIDConverter):
                values[name] = uuid.uuid4()
            elif isinstance(converter, AnyConverter):
                values[name] = sorted(converter.items)[0]
            else:
                values[name] = "booking_confirmed" if name == "event" else "x"
        with app.test_request_context():
            from flask import url_for

            urls.append(url_for(rule.endpoint, **values))
    return sorted(set(urls))


def test_the_admin_has_state_changing_routes_to_check(app):
    urls = _admin_post_urls(app)
    assert len(urls) >= 30, urls
    assert "/admin/login" in urls and "/admin/logout" in urls and "/admin/bookings/bulk" in urls


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_admin_post_without_the_session_token_is_refused(app, signed_in, token):
    browser = signed_in("owner")
    data = {} if token is None else {"csrf_token": token}
    refused = {}
    for url in _admin_post_urls(app):
        response = browser.client.post(url, data=data)
        refused[url] = response.status_code
    assert set(refused.values()) == {400}, {u: s for u, s in refused.items() if s != 400}


def test_a_signed_out_post_without_a_token_is_refused_too(client, salon):
    response = client.post(
        "/admin/login", data={"email": salon.member("owner").email, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert client.get("/admin/", follow_redirects=False).status_code == 302


def test_htmx_sends_the_token_in_a_header_from_the_body(signed_in):
    browser = signed_in("owner")
    page = browser.page("/admin/")
    body = page.find("body")[0]
    token = page.form("sign-out").data()["csrf_token"]
    assert body["hx-headers"] == '{"X-CSRFToken": "' + token + '"}'
    response = browser.client.post(
        "/admin/language", data={"lang": "en"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 303


def test_the_api_and_webhooks_are_exempt(client, salon):
    response = client.post(
        "/api/v1/auth/login", json={"email": salon.member("owner").email, "password": PASSWORD}
    )
    assert response.status_code == 200
    response = client.post("/webhooks/twilio/status", data={"MessageSid": "SM1"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_signature"


def test_an_unknown_method_keeps_its_405_rather_than_a_csrf_refusal(client, db):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
