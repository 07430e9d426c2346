"""Registration, the verification email over real SMTP (in the request's language), and email
verification."""

from __future__ import annotations

import re
from datetime import timedelta

from bookme.core import clock
from tests.users.conftest import bearer, login, opens_in, post

NEW = {"email": "  Nadia@Example.COM ", "password": "a long enough pw", "full_name": "Nadia B."}


def _token_from(received):
    match = re.search(r"/account/verify-email\?token=([A-Za-z0-9_-]+)", received.text)
    assert match, received.text
    return match.group(1)


def test_register_creates_the_account_and_emails_a_verification_link(client, mailbox, run_jobs):
    response = post(client, "/auth/register", NEW)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "nadia@example.com"
    assert body["full_name"] == "Nadia B."
    assert body["email_verified"] is False
    assert set(body) == {"id", "email", "full_name", "email_verified", "created_at"}
    assert mailbox.messages == []  # never sent from the web request
    run_jobs()
    received = mailbox.take_one()
    assert received.rcpt_tos == ["nadia@example.com"]
    # No Accept-Language: French, the product's default.
    assert received.message["Subject"] == "Confirmez votre adresse e-mail"
    assert "Bonjour Nadia B.," in received.text
    token = _token_from(received)
    assert f"/account/verify-email?token={token}&lang=fr" in received.text
    assert f"token={token}&amp;lang=fr" in received.html
    assert received.html.startswith("<!doctype html>")
    assert '<html lang="fr" dir="ltr">' in received.html


def _register_and_get_token(client, mailbox, run_jobs, data=NEW):
    assert post(client, "/auth/register", data).status_code == 201
    run_jobs()
    return _token_from(mailbox.take_one())


def _me(client, email="nadia@example.com"):
    tokens = login(client, email, NEW["password"]).get_json()
    return client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()


def test_verifying_the_emailed_token_marks_the_email_verified(client, mailbox, run_jobs):
    token = _register_and_get_token(client, mailbox, run_jobs)
    assert _me(client)["email_verified"] is False
    assert post(client, "/auth/email/verify", {"token": token}).status_code == 204
    assert _me(client)["email_verified"] is True


def test_a_verification_token_works_only_once(client, mailbox, run_jobs):
    token = _register_and_get_token(client, mailbox, run_jobs)
    assert post(client, "/auth/email/verify", {"token": token}).status_code == 204
    again = post(client, "/auth/email/verify", {"token": token})
    assert again.status_code == 422
    assert again.get_json()["code"] == "validation_error"
    assert "already been used" in again.get_json()["errors"]["token"][0]


def test_an_expired_verification_token_is_refused(client, mailbox, run_jobs):
    start = clock.now()
    with clock.frozen(start):
        token = _register_and_get_token(client, mailbox, run_jobs)
        clock.advance(timedelta(hours=48, seconds=1))
        response = post(client, "/auth/email/verify", {"token": token})
    assert response.status_code == 422
    assert response.get_json()["errors"]["token"] == ["This token has expired; ask for a new one."]
    assert _me(client)["email_verified"] is False


def test_a_verification_token_just_before_expiry_still_works(client, mailbox, run_jobs):
    with clock.frozen(clock.now()):
        token = _register_and_get_token(client, mailbox, run_jobs)
        clock.advance(timedelta(hours=47, minutes=59))
        assert post(client, "/auth/email/verify", {"token": token}).status_code == 204


def test_an_unknown_verification_token_is_refused(client):
    response = post(client, "/auth/email/verify", {"token": "not-a-token"})
    assert response.status_code == 422
    assert response.get_json()["errors"]["token"] == [
        "This token is invalid or has already been used."
    ]


def test_a_password_reset_token_does_not_verify_an_email(client, db, mailbox, run_jobs):
    _register_and_get_token(client, mailbox, run_jobs)
    post(client, "/auth/password/forgot", {"email": NEW["email"]})
    run_jobs()
    text = mailbox.take_one().text
    reset_token = re.search(r"token=([A-Za-z0-9_-]+)", text).group(1)
    response = post(client, "/auth/email/verify", {"token": reset_token})
    assert response.status_code == 422


def test_only_a_hash_of_the_token_is_stored(client, db, mailbox, run_jobs):
    import hashlib

    import sqlalchemy as sa

    token = _register_and_get_token(client, mailbox, run_jobs)
    stored = (
        db.session.execute(sa.text("SELECT token_hash FROM public.one_time_tokens")).scalars().all()
    )
    assert stored == [hashlib.sha256(token.encode()).digest()]


def test_registering_a_taken_email_is_a_conflict_whatever_its_case(client, mailbox, run_jobs):
    _register_and_get_token(client, mailbox, run_jobs)
    again = post(client, "/auth/register", {**NEW, "email": "NADIA@example.com"})
    assert again.status_code == 409
    assert again.get_json()["code"] == "email_taken"
    assert again.headers["Content-Type"] == "application/problem+json"


def test_a_password_shorter_than_ten_characters_is_refused(client):
    response = post(client, "/auth/register", {**NEW, "password": "123456789"})
    assert response.status_code == 422
    assert "password" in response.get_json()["errors"]


def test_a_password_longer_than_256_characters_is_refused(client):
    response = post(client, "/auth/register", {**NEW, "password": "x" * 257})
    assert response.status_code == 422
    assert "password" in response.get_json()["errors"]


def test_a_password_of_only_spaces_is_refused(client):
    response = post(client, "/auth/register", {**NEW, "password": " " * 12})
    assert response.status_code == 422
    assert response.get_json()["errors"]["password"] == ["The password cannot be only spaces."]


def test_register_refuses_a_malformed_email_a_blank_name_and_unknown_fields(client):
    response = post(
        client,
        "/auth/register",
        {
            "email": "not-an-email",
            "password": "long enough pw",
            "full_name": "   ",
            "is_operator": True,
        },
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) >= {"email", "is_operator"}


def test_register_refuses_a_nul_character(client):
    response = post(client, "/auth/register", {**NEW, "full_name": "Na\x00dia"})
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_register_without_a_json_body_is_invalid_json(client):
    response = client.post(
        "/api/v1/auth/register", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"


def test_passwords_are_stored_as_argon2id_hashes(client, db, mailbox, run_jobs):
    import sqlalchemy as sa

    _register_and_get_token(client, mailbox, run_jobs)
    stored = db.session.execute(sa.text("SELECT password_hash FROM public.users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert NEW["password"] not in stored


def test_a_signed_in_user_can_ask_for_a_new_verification_email(client, mailbox, run_jobs):
    _register_and_get_token(client, mailbox, run_jobs)
    tokens = login(client, "nadia@example.com", NEW["password"]).get_json()
    response = post(client, "/auth/email/resend", headers=bearer(tokens["access_token"]))
    assert response.status_code == 202
    run_jobs()
    token = _token_from(mailbox.take_one())
    assert post(client, "/auth/email/verify", {"token": token}).status_code == 204
    # Once verified, asking again sends nothing.
    assert (
        post(client, "/auth/email/resend", headers=bearer(tokens["access_token"])).status_code
        == 202
    )
    run_jobs()
    assert mailbox.unexpected == []


def test_a_resent_verification_email_follows_the_language_of_the_resend(client, mailbox, run_jobs):
    _register_and_get_token(client, mailbox, run_jobs)  # signed up in French
    tokens = login(client, "nadia@example.com", NEW["password"]).get_json()
    headers = {**bearer(tokens["access_token"]), "Accept-Language": "ar"}
    assert post(client, "/auth/email/resend", headers=headers).status_code == 202
    run_jobs()
    received = mailbox.take_one()
    assert received.message["Subject"] == "أكّد عنوان بريدك الإلكتروني"
    opens_in(client, received, "/account/verify-email", "ar")
    assert post(client, "/auth/email/verify", {"token": _token_from(received)}).status_code == 204


def test_resending_verification_needs_a_token(client):
    response = post(client, "/auth/email/resend")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_resending_verification_is_limited_per_account(client, mailbox, run_jobs):
    _register_and_get_token(client, mailbox, run_jobs)
    tokens = login(client, "nadia@example.com", NEW["password"]).get_json()
    statuses = [
        post(
            client,
            "/auth/email/resend",
            headers=bearer(tokens["access_token"]),
            address=f"10.1.0.{i}",
        ).status_code
        for i in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    run_jobs()
    mailbox.take(5)
