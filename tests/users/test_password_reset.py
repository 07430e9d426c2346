"""Forgotten passwords: the emailed single-use, expiring, hashed token (in the request's
language), and what a reset revokes."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from bookme.core import clock
from tests.conftest import PASSWORD
from tests.users.conftest import bearer, login, make_user, opens_in, post

NEW_PASSWORD = "a brand new password"


def _forgot(client, email, address="10.0.0.1"):
    return post(client, "/auth/password/forgot", {"email": email}, address=address)


def _reset_token(mailbox):
    received = mailbox.take_one()
    assert received.message["Subject"] == "Réinitialisez votre mot de passe BookMe"  # French
    match = re.search(r"/account/reset-password\?token=([A-Za-z0-9_-]+)", received.text)
    assert match, received.text
    assert match.group(0) in received.html
    return match.group(1)


def test_forgot_emails_a_reset_link_over_smtp(client, db, mailbox, run_jobs, app):
    make_user(email="salma@example.com", full_name="Salma B.")
    db.session.commit()
    response = _forgot(client, "Salma@Example.com")
    assert response.status_code == 202
    run_jobs()
    received = mailbox.messages[0]
    assert received.rcpt_tos == ["salma@example.com"]
    assert received.message["From"] == app.config["BOOKME"].mail_from
    assert "Bonjour Salma B.," in received.text
    assert "expire dans 60 minutes." in received.text
    opens_in(client, received, "/account/reset-password", "fr")
    assert _reset_token(mailbox)


def test_forgot_answers_the_same_for_an_unknown_email_and_sends_nothing(
    client, db, mailbox, run_jobs
):
    make_user(email="salma@example.com")
    known = _forgot(client, "salma@example.com")
    run_jobs()
    mailbox.take_one()
    unknown = _forgot(client, "nobody@example.com")
    assert run_jobs() == []
    assert (unknown.status_code, unknown.get_json()) == (known.status_code, known.get_json())
    assert unknown.status_code == 202


def test_forgot_sends_nothing_to_a_deactivated_account(client, db, mailbox, run_jobs):
    user = make_user(email="gone@example.com")
    user.is_active = False
    db.session.commit()
    assert _forgot(client, "gone@example.com").status_code == 202
    assert run_jobs() == []


def test_forgot_refuses_a_malformed_email(client, db):
    response = _forgot(client, "not an email")
    assert response.status_code == 422
    assert "email" in response.get_json()["errors"]


def test_reset_sets_the_new_password(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    _forgot(client, "salma@example.com")
    run_jobs()
    token = _reset_token(mailbox)
    response = post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204
    assert login(client, "salma@example.com", PASSWORD).status_code == 401
    assert login(client, "salma@example.com", NEW_PASSWORD).status_code == 200


def test_a_reset_token_works_only_once(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    _forgot(client, "salma@example.com")
    run_jobs()
    token = _reset_token(mailbox)
    assert (
        post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD}).status_code
        == 204
    )
    again = post(
        client, "/auth/password/reset", {"token": token, "password": "yet another password"}
    )
    assert again.status_code == 422
    assert again.get_json()["code"] == "validation_error"
    assert again.get_json()["errors"]["token"] == [
        "This token is invalid or has already been used."
    ]
    assert login(client, "salma@example.com", NEW_PASSWORD).status_code == 200


def test_an_expired_reset_token_is_refused(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    with clock.frozen(clock.now()):
        _forgot(client, "salma@example.com")
        run_jobs()
        token = _reset_token(mailbox)
        clock.advance(timedelta(minutes=60))
        response = post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 422
    assert response.get_json()["errors"]["token"] == ["This token has expired; ask for a new one."]
    assert login(client, "salma@example.com", PASSWORD).status_code == 200


def test_a_reset_token_shortly_before_expiry_works(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    with clock.frozen(clock.now()):
        _forgot(client, "salma@example.com")
        run_jobs()
        token = _reset_token(mailbox)
        clock.advance(timedelta(minutes=59))
        response = post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204


def test_a_reset_revokes_every_sign_in_of_the_account(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    make_user(email="other@example.com")
    phone = login(client, "salma@example.com").get_json()
    laptop = login(client, "salma@example.com").get_json()
    someone_else = login(client, "other@example.com").get_json()
    _forgot(client, "salma@example.com")
    run_jobs()
    token = _reset_token(mailbox)
    assert (
        post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD}).status_code
        == 204
    )
    for pair in (phone, laptop):
        assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
        assert (
            post(client, "/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
        )
    assert client.get("/api/v1/me", headers=bearer(someone_else["access_token"])).status_code == 200


def test_a_reset_spends_every_other_outstanding_reset_token(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    _forgot(client, "salma@example.com")
    _forgot(client, "salma@example.com")
    run_jobs()
    first, second = (re.search(r"token=([A-Za-z0-9_-]+)", r.text).group(1) for r in mailbox.take(2))
    assert (
        post(
            client, "/auth/password/reset", {"token": second, "password": NEW_PASSWORD}
        ).status_code
        == 204
    )
    assert (
        post(
            client, "/auth/password/reset", {"token": first, "password": "another new password"}
        ).status_code
        == 422
    )


def test_a_reset_proves_the_mailbox_and_verifies_the_email(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com", verified=False)
    _forgot(client, "salma@example.com")
    run_jobs()
    post(client, "/auth/password/reset", {"token": _reset_token(mailbox), "password": NEW_PASSWORD})
    tokens = login(client, "salma@example.com", NEW_PASSWORD).get_json()
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()
    assert me["email_verified"] is True


def test_a_reset_refuses_a_short_password_and_keeps_the_token_usable(client, db, mailbox, run_jobs):
    make_user(email="salma@example.com")
    _forgot(client, "salma@example.com")
    run_jobs()
    token = _reset_token(mailbox)
    short = post(client, "/auth/password/reset", {"token": token, "password": "short"})
    assert short.status_code == 422
    assert "password" in short.get_json()["errors"]
    assert (
        post(client, "/auth/password/reset", {"token": token, "password": NEW_PASSWORD}).status_code
        == 204
    )


def test_an_email_verification_token_cannot_reset_a_password(client, db, mailbox, run_jobs):
    post(
        client,
        "/auth/register",
        {"email": "new@example.com", "password": PASSWORD, "full_name": "N"},
    )
    run_jobs()
    verify_token = re.search(r"token=([A-Za-z0-9_-]+)", mailbox.take_one().text).group(1)
    response = post(
        client, "/auth/password/reset", {"token": verify_token, "password": NEW_PASSWORD}
    )
    assert response.status_code == 422


def test_reset_tokens_are_stored_hashed_with_their_expiry(client, db, mailbox, run_jobs):
    import hashlib

    make_user(email="salma@example.com")
    with clock.frozen(clock.now()):
        _forgot(client, "salma@example.com")
        asked_at = clock.now()
    run_jobs()
    token = _reset_token(mailbox)
    row = db.session.execute(
        sa.text("SELECT token_hash, purpose, expires_at FROM public.one_time_tokens")
    ).one()
    assert row.token_hash == hashlib.sha256(token.encode()).digest()
    assert row.purpose == "password_reset"
    assert row.expires_at == asked_at + timedelta(hours=1)
