"""Login and password-forgot rate limits: per client address and per account (Redis-backed)."""

from __future__ import annotations

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from tests.conftest import PASSWORD
from tests.users.conftest import login, make_user, post


def _assert_rate_limited(response, window_seconds):
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == "rate_limited"
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None, dict(response.headers)
    assert retry_after.isdigit()
    assert 0 <= int(retry_after) <= window_seconds


def test_login_allows_ten_attempts_a_minute_per_address(client, db):
    make_user(email="salma@example.com")
    statuses = [
        login(client, "salma@example.com", address="10.0.0.7").status_code for _ in range(10)
    ]
    assert statuses == [200] * 10
    _assert_rate_limited(login(client, "salma@example.com", address="10.0.0.7"), 60)


def test_the_address_limit_counts_attempts_for_any_account(client, db):
    for i in range(10):
        login(client, f"user{i}@example.com", "wrong password", address="10.0.0.7")
    _assert_rate_limited(login(client, "someone@example.com", address="10.0.0.7"), 60)


def test_another_address_is_not_limited_by_the_first(client, db):
    make_user(email="salma@example.com")
    for _ in range(11):
        login(client, "salma@example.com", address="10.0.0.7")
    assert login(client, "salma@example.com", address="10.0.0.8").status_code == 200


def test_an_account_locks_after_twenty_failures_from_any_addresses(client, db):
    make_user(email="salma@example.com")
    for i in range(20):
        response = login(client, "salma@example.com", "wrong password", address=f"10.0.{i}.1")
        assert response.status_code == 401
    # From a fresh address, even the right password is refused while the limit lasts.
    _assert_rate_limited(login(client, "salma@example.com", PASSWORD, address="10.9.9.9"), 3600)


def test_the_account_limit_applies_to_the_normalised_email(client, db):
    make_user(email="salma@example.com")
    spellings = ["salma@example.com", "SALMA@example.com", " Salma@Example.Com "]
    for i in range(20):
        login(client, spellings[i % 3], "wrong password", address=f"10.1.{i}.1")
    _assert_rate_limited(login(client, "salma@example.com", address="10.9.9.9"), 3600)


def test_successful_logins_do_not_count_towards_the_account_limit(client, db):
    make_user(email="salma@example.com")
    for i in range(19):
        assert (
            login(client, "salma@example.com", "wrong password", address=f"10.2.{i}.1").status_code
            == 401
        )
    for i in range(5):
        assert login(client, "salma@example.com", address=f"10.3.{i}.1").status_code == 200
    assert login(client, "salma@example.com", address="10.4.0.1").status_code == 200


def test_one_account_locked_leaves_others_alone(client, db):
    make_user(email="salma@example.com")
    make_user(email="nadia@example.com")
    for i in range(20):
        login(client, "salma@example.com", "wrong password", address=f"10.5.{i}.1")
    assert login(client, "nadia@example.com", address="10.9.9.9").status_code == 200


def test_password_forgot_allows_five_an_hour_per_account(client, db):
    for i in range(5):
        response = post(
            client, "/auth/password/forgot", {"email": "nobody@example.com"}, address=f"10.6.{i}.1"
        )
        assert response.status_code == 202
    _assert_rate_limited(
        post(client, "/auth/password/forgot", {"email": "NOBODY@example.com"}, address="10.9.9.9"),
        3600,
    )
    other = post(client, "/auth/password/forgot", {"email": "else@example.com"}, address="10.9.9.9")
    assert other.status_code == 202


def test_password_forgot_is_limited_per_address_too(client, db):
    for i in range(10):
        post(client, "/auth/password/forgot", {"email": f"n{i}@example.com"}, address="10.7.0.1")
    _assert_rate_limited(
        post(client, "/auth/password/forgot", {"email": "x@example.com"}, address="10.7.0.1"), 60
    )


def test_limits_live_in_redis(client, db, redis_client):
    make_user(email="salma@example.com")
    login(client, "salma@example.com", "wrong password")
    keys = [k.decode() for k in redis_client.keys("*")]
    assert any("salma@example.com" in k for k in keys), keys


def test_a_forwarded_address_is_ignored_without_trusted_proxies(client, db):
    make_user(email="salma@example.com")
    for i in range(10):
        client.post(
            "/api/v1/auth/login",
            json={"email": "salma@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.0.7"},
            headers={"X-Forwarded-For": f"192.0.2.{i}"},
        )
    response = client.post(
        "/api/v1/auth/login",
        json={"email": "salma@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
        headers={"X-Forwarded-For": "192.0.2.200"},
    )
    assert response.status_code == 429


@pytest.fixture
def behind_one_proxy(app, monkeypatch):
    """As create_app wraps the app when BOOKME_TRUSTED_PROXIES=1."""
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1))


def test_with_a_trusted_proxy_the_limit_follows_the_forwarded_address(client, db, behind_one_proxy):
    make_user(email="salma@example.com")

    def attempt(forwarded):
        return client.post(
            "/api/v1/auth/login",
            json={"email": "salma@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
            headers={"X-Forwarded-For": forwarded},
        )

    for _ in range(10):
        assert attempt("198.51.100.1").status_code == 200
    assert attempt("198.51.100.1").status_code == 429
    assert attempt("198.51.100.2").status_code == 200
    # A client cannot escape by prepending its own X-Forwarded-For: the proxy's entry counts.
    assert attempt("203.0.113.9, 198.51.100.1").status_code == 429
