"""API.md "Auth and users": every row, the password rule, and the auth rate limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bookme.core import clock
from tests.conformance.conftest import RFC3339, assert_problem, is_uuid
from tests.conftest import PASSWORD, add_member, make_user

API = "/api/v1"
NEW = "a brand new password"


def post(client, path, body=None, address="10.1.0.1", **kw):
    return client.post(API + path, json=body, environ_base={"REMOTE_ADDR": address}, **kw)


def login(client, email, password=PASSWORD, address="10.1.0.1"):
    return post(client, "/auth/login", {"email": email, "password": password}, address)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _link_token(text, path):
    match = re.search(rf"{path}\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


# --- register and verify --------------------------------------------------------------------


def test_register_is_201_with_the_user_and_sends_a_verification_email(
    client, db, mailbox, run_jobs
):
    response = post(
        client,
        "/auth/register",
        {"email": "salma@example.com", "password": "ten chars!", "full_name": "Salma B."},
    )
    assert response.status_code == 201
    user = response.get_json()
    assert is_uuid(user["id"])
    assert user["email"] == "salma@example.com"
    assert user["full_name"] == "Salma B."
    assert user["email_verified"] is False
    assert "password" not in user and "password_hash" not in user
    run_jobs()
    received = mailbox.take_one()
    assert received.rcpt_tos == ["salma@example.com"]
    token = _link_token(received.text, "verify-email")
    assert post(client, "/auth/email/verify", {"token": token}).status_code == 204
    # Single use.
    again = post(client, "/auth/email/verify", {"token": token})
    assert_problem(again, 422, "validation_error")
    access = login(client, "salma@example.com", "ten chars!").get_json()["access_token"]
    assert client.get(API + "/me", headers=bearer(access)).get_json()["email_verified"] is True


@pytest.mark.parametrize("password", ["nine char", "", " " * 12])
def test_passwords_have_at_least_10_characters(client, db, password):
    response = post(
        client, "/auth/register", {"email": "a@example.com", "password": password, "full_name": "A"}
    )
    assert "password" in assert_problem(response, 422, "validation_error")["errors"]


def test_register_requires_email_password_and_full_name(client, db):
    body = assert_problem(post(client, "/auth/register", {}), 422, "validation_error")
    assert {"email", "password", "full_name"} <= set(body["errors"])


def test_an_unknown_verification_token_is_refused(client, db):
    assert_problem(post(client, "/auth/email/verify", {"token": "nope"}), 422, "validation_error")


# --- login, refresh, logout ------------------------------------------------------------------


def test_login_is_200_with_a_bearer_pair(client, db):
    user = make_user()
    response = login(client, user.email)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0


def test_login_failures_do_not_say_whether_the_email_exists(client, db):
    user = make_user()
    wrong_password = login(client, user.email, "not the password")
    unknown_email = login(client, "nobody@example.com", "not the password")
    assert_problem(wrong_password, 401, "unauthorized")
    assert_problem(unknown_email, 401, "unauthorized")
    assert wrong_password.get_json() == unknown_email.get_json()


def test_refresh_gives_a_new_pair_and_revokes_the_old_refresh_token(client, db):
    user = make_user()
    first = login(client, user.email).get_json()
    response = post(client, "/auth/refresh", headers=bearer(first["refresh_token"]))
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(API + "/me", headers=bearer(second["access_token"])).status_code == 200
    # Reusing the revoked one is 401 and revokes the whole family.
    reuse = post(client, "/auth/refresh", headers=bearer(first["refresh_token"]))
    assert_problem(reuse, 401, "unauthorized")
    assert_problem(
        post(client, "/auth/refresh", headers=bearer(second["refresh_token"])), 401, "unauthorized"
    )
    assert_problem(
        client.get(API + "/me", headers=bearer(second["access_token"])), 401, "unauthorized"
    )


def test_refresh_with_an_access_token_is_401(client, db):
    user = make_user()
    pair = login(client, user.email).get_json()
    assert_problem(
        post(client, "/auth/refresh", headers=bearer(pair["access_token"])), 401, "unauthorized"
    )


def test_logout_is_204_and_revokes_the_tokens(client, db):
    user = make_user()
    pair = login(client, user.email).get_json()
    response = post(client, "/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(
        client.get(API + "/me", headers=bearer(pair["access_token"])), 401, "unauthorized"
    )
    assert_problem(
        post(client, "/auth/refresh", headers=bearer(pair["refresh_token"])), 401, "unauthorized"
    )


# --- password reset -----------------------------------------------------------------------------


def test_forgot_is_202_whether_or_not_the_email_exists(client, db, mailbox, run_jobs):
    user = make_user()
    known = post(client, "/auth/password/forgot", {"email": user.email})
    unknown = post(client, "/auth/password/forgot", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    run_jobs()
    token = _link_token(mailbox.take_one().text, "reset-password")
    response = post(client, "/auth/password/reset", {"token": token, "password": NEW})
    assert response.status_code == 204
    assert login(client, user.email, NEW).status_code == 200
    # Single use.
    again = post(client, "/auth/password/reset", {"token": token, "password": "another one!"})
    assert_problem(again, 422, "validation_error")


def test_reset_refuses_a_short_password(client, db):
    response = post(client, "/auth/password/reset", {"token": "x", "password": "short"})
    assert "password" in assert_problem(response, 422, "validation_error")["errors"]


# --- me -------------------------------------------------------------------------------------------


def test_me_shows_the_user_and_memberships(client, tenant):
    response = client.get(API + "/me", headers=tenant.owner.headers)
    assert response.status_code == 200
    me = response.get_json()
    assert {"id", "email", "full_name", "email_verified", "memberships"} <= set(me)
    assert me["id"] == str(tenant.owner.user_id)
    assert me["email"] == tenant.owner.email
    assert me["email_verified"] is True
    [membership] = me["memberships"]
    assert set(membership) == {"tenant", "role"}
    assert membership["role"] == "owner"
    tenant_ref = membership["tenant"]
    assert tenant_ref == tenant.slug or tenant_ref.get("slug") == tenant.slug


def test_me_lists_each_membership_with_its_role(client, tenant, other_tenant):
    staff = add_member(tenant, "staff")
    me = client.get(API + "/me", headers=staff.headers).get_json()
    assert [m["role"] for m in me["memberships"]] == ["staff"]


# --- rate limits ----------------------------------------------------------------------------------


def assert_rate_limited(response):
    assert_problem(response, 429, "rate_limited")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1


def test_login_allows_10_attempts_a_minute_per_client_address(client, db):
    users = [make_user() for _ in range(11)]
    for user in users[:10]:
        assert login(client, user.email, address="10.9.0.1").status_code == 200
    assert_rate_limited(login(client, users[10].email, address="10.9.0.1"))
    # Another address is not limited.
    assert login(client, users[10].email, address="10.9.0.2").status_code == 200


def test_login_ignores_forwarded_addresses_without_trusted_proxies(client, db):
    users = [make_user() for _ in range(11)]
    for i, user in enumerate(users[:10]):
        response = client.post(
            API + "/auth/login",
            json={"email": user.email, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "10.9.1.1"},
            headers={"X-Forwarded-For": f"192.0.2.{i}"},
        )
        assert response.status_code == 200
    response = client.post(
        API + "/auth/login",
        json={"email": users[10].email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.1.1"},
        headers={"X-Forwarded-For": "192.0.2.99"},
    )
    assert_rate_limited(response)


def test_20_failures_an_hour_lock_the_account_from_any_address_even_the_right_password(client, db):
    user = make_user()
    for i in range(20):
        response = login(client, user.email, "wrong password", address=f"10.8.{i}.1")
        assert response.status_code == 401
    assert_rate_limited(login(client, user.email, PASSWORD, address="10.8.99.1"))
    # Other accounts are unaffected.
    assert login(client, make_user().email, address="10.8.99.2").status_code == 200


def test_password_forgot_allows_5_an_hour_per_account(client, db):
    user = make_user()
    for i in range(5):
        response = post(client, "/auth/password/forgot", {"email": user.email}, f"10.7.{i}.1")
        assert response.status_code == 202
    response = post(client, "/auth/password/forgot", {"email": user.email}, "10.7.9.1")
    assert_rate_limited(response)


# --- RFC 3339 on user resources -------------------------------------------------------------------


def test_user_instants_are_rfc_3339_with_an_offset(client, db):
    response = post(
        client,
        "/auth/register",
        {"email": "when@example.com", "password": "ten chars!", "full_name": "W"},
    )
    assert RFC3339.match(response.get_json()["created_at"])


# --- single-use tokens expire -------------------------------------------------------------------


def test_a_reset_token_expires(client, db, mailbox, run_jobs):
    user = make_user()
    with clock.frozen(datetime(2027, 5, 3, 8, 0, tzinfo=UTC)):
        post(client, "/auth/password/forgot", {"email": user.email})
        run_jobs()
        token = _link_token(mailbox.take_one().text, "reset-password")
        clock.advance(timedelta(hours=2))
        response = post(client, "/auth/password/reset", {"token": token, "password": NEW})
    assert_problem(response, 422, "validation_error")
    assert login(client, user.email, NEW).status_code == 401


def test_a_verification_token_expires(client, db, mailbox, run_jobs):
    with clock.frozen(datetime(2027, 5, 3, 8, 0, tzinfo=UTC)):
        post(
            client,
            "/auth/register",
            {"email": "late@example.com", "password": "ten chars!", "full_name": "L"},
        )
        run_jobs()
        token = _link_token(mailbox.take_one().text, "verify-email")
        clock.advance(timedelta(days=30))
        response = post(client, "/auth/email/verify", {"token": token})
    assert_problem(response, 422, "validation_error")
