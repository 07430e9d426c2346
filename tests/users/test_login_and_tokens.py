"""Sign-in, refresh rotation with reuse detection, logout, and tokens that must be refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import jwt as pyjwt
import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, create_refresh_token

from bookme.users import passwords, tokens
from tests.conftest import PASSWORD
from tests.users.conftest import bearer, login, make_user, post


def _me(client, access_token):
    return client.get("/api/v1/me", headers=bearer(access_token))


def _refresh(client, refresh_token):
    return post(client, "/auth/refresh", headers=bearer(refresh_token))


def _assert_unauthorized(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == "unauthorized"


# --- login ---------------------------------------------------------------------------------------


def test_login_returns_a_bearer_pair_that_opens_me(client, db, app):
    user = make_user(email="salma@example.com")
    response = login(client, "salma@example.com")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["BOOKME"].access_token_minutes * 60
    me = _me(client, body["access_token"])
    assert me.status_code == 200
    assert me.get_json()["id"] == str(user.id)


def test_login_matches_the_email_whatever_its_case_and_spacing(client, db):
    make_user(email="salma@example.com")
    assert login(client, "  SALMA@Example.com ").status_code == 200


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, db):
    make_user(email="salma@example.com")
    wrong = login(client, "salma@example.com", "not the password")
    unknown = login(client, "nobody@example.com", "not the password")
    _assert_unauthorized(wrong)
    _assert_unauthorized(unknown)
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["detail"] == "Incorrect email or password."


def test_an_unknown_email_still_costs_a_password_verification(client, db, monkeypatch):
    calls = []
    real = passwords._hasher

    class Spy:
        def verify(self, password_hash, password):
            calls.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    _assert_unauthorized(login(client, "nobody@example.com", "whatever password"))
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$")


def test_a_deactivated_user_cannot_sign_in_and_gets_the_same_answer(client, db):
    user = make_user(email="gone@example.com")
    user.is_active = False
    db.session.commit()
    response = login(client, "gone@example.com")
    _assert_unauthorized(response)
    assert response.get_json()["detail"] == "Incorrect email or password."


def test_a_hash_with_outdated_parameters_is_upgraded_at_sign_in(client, db):
    from argon2 import PasswordHasher

    user = make_user(email="old@example.com")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    db.session.commit()
    assert login(client, "old@example.com").status_code == 200
    db.session.expire_all()
    stored = db.session.execute(
        sa.text("SELECT password_hash FROM public.users WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD)


def test_login_refuses_missing_fields_and_oversized_passwords(client, db):
    missing = post(client, "/auth/login", {"email": "a@example.com"})
    assert missing.status_code == 422
    assert "password" in missing.get_json()["errors"]
    huge = post(client, "/auth/login", {"email": "a@example.com", "password": "x" * 257})
    assert huge.status_code == 422


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_returns_a_new_pair_and_the_old_refresh_token_stops_working(client, db):
    make_user(email="salma@example.com")
    first = login(client, "salma@example.com").get_json()
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    pair = second.get_json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["token_type"] == "Bearer"
    assert _me(client, pair["access_token"]).status_code == 200
    _assert_unauthorized(_refresh(client, first["refresh_token"]))


def test_reusing_a_refresh_token_revokes_the_whole_family(client, db):
    make_user(email="salma@example.com")
    first = login(client, "salma@example.com").get_json()
    rotated = _refresh(client, first["refresh_token"]).get_json()
    # A thief replays the first refresh token: everything from that sign-in dies.
    _assert_unauthorized(_refresh(client, first["refresh_token"]))
    _assert_unauthorized(_refresh(client, rotated["refresh_token"]))
    _assert_unauthorized(_me(client, rotated["access_token"]))
    _assert_unauthorized(_me(client, first["access_token"]))


def test_reuse_revokes_only_its_own_family(client, db):
    make_user(email="salma@example.com")
    phone = login(client, "salma@example.com").get_json()
    laptop = login(client, "salma@example.com").get_json()
    _refresh(client, phone["refresh_token"])
    _assert_unauthorized(_refresh(client, phone["refresh_token"]))
    assert _me(client, laptop["access_token"]).status_code == 200
    assert _refresh(client, laptop["refresh_token"]).status_code == 200


def test_the_family_revocation_survives_the_401(client, db):
    """The 401 for a replay must not roll back the revocation it recorded."""
    make_user(email="salma@example.com")
    first = login(client, "salma@example.com").get_json()
    _refresh(client, first["refresh_token"])
    _refresh(client, first["refresh_token"])
    family = pyjwt.decode(first["refresh_token"], options={"verify_signature": False})["fam"]
    rows = db.session.execute(
        sa.text("SELECT count(*) FROM public.token_revocations WHERE jti = :k"),
        {"k": tokens.family_key(family)},
    ).scalar_one()
    assert rows == 1
    revoked = db.session.execute(
        sa.text(
            "SELECT bool_and(revoked_at IS NOT NULL) FROM public.refresh_tokens "
            "WHERE family_id = CAST(:f AS uuid)"
        ),
        {"f": family},
    ).scalar_one()
    assert revoked is True


def test_an_access_token_cannot_refresh_and_a_refresh_token_cannot_access(client, db):
    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    _assert_unauthorized(_refresh(client, pair["access_token"]))
    _assert_unauthorized(_me(client, pair["refresh_token"]))


def test_a_signed_refresh_token_the_server_never_issued_is_refused_and_its_family_revoked(
    client, db
):
    user = make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    family = pyjwt.decode(pair["access_token"], options={"verify_signature": False})["fam"]
    forged = create_refresh_token(identity=str(user.id), additional_claims={"fam": family})
    _assert_unauthorized(_refresh(client, forged))
    _assert_unauthorized(_me(client, pair["access_token"]))


def test_refresh_for_a_deactivated_user_is_refused(client, db):
    user = make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    user.is_active = False
    db.session.commit()
    _assert_unauthorized(_refresh(client, pair["refresh_token"]))


def test_refresh_without_a_token_is_refused(client, db):
    _assert_unauthorized(post(client, "/auth/refresh"))


# --- logout --------------------------------------------------------------------------------------


def test_logout_revokes_the_access_token_and_its_refresh_token(client, db):
    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    other = login(client, "salma@example.com").get_json()
    response = post(client, "/auth/logout", headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert response.get_data() == b""
    _assert_unauthorized(_me(client, pair["access_token"]))
    _assert_unauthorized(_refresh(client, pair["refresh_token"]))
    _assert_unauthorized(post(client, "/auth/logout", headers=bearer(pair["access_token"])))
    assert _me(client, other["access_token"]).status_code == 200


def test_logout_needs_an_access_token(client, db):
    _assert_unauthorized(post(client, "/auth/logout"))


def test_logout_refuses_a_refresh_token(client, db):
    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    _assert_unauthorized(post(client, "/auth/logout", headers=bearer(pair["refresh_token"])))


# --- tampered, forged, expired and revoked tokens -------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def victim_and_attacker(client, db):
    victim = make_user(email="victim@example.com")
    make_user(email="attacker@example.com")
    attacker_token = login(client, "attacker@example.com").get_json()["access_token"]
    return victim, attacker_token


def test_a_token_whose_payload_was_changed_is_refused(client, victim_and_attacker):
    victim, token = victim_and_attacker
    header, _payload, signature = token.split(".")
    claims = _claims(token)
    claims["sub"] = str(victim.id)
    _assert_unauthorized(_me(client, f"{header}.{_b64(claims)}.{signature}"))


def test_a_token_with_alg_none_is_refused(client, victim_and_attacker):
    victim, token = victim_and_attacker
    claims = {**_claims(token), "sub": str(victim.id)}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    _assert_unauthorized(_me(client, unsigned))


def test_a_token_signed_with_another_key_is_refused(client, victim_and_attacker):
    victim, token = victim_and_attacker
    claims = {**_claims(token), "sub": str(victim.id)}
    forged = pyjwt.encode(claims, "some-other-secret-of-sufficient-length!", algorithm="HS256")
    _assert_unauthorized(_me(client, forged))


def test_a_token_signed_with_another_algorithm_is_refused(client, app, victim_and_attacker):
    victim, token = victim_and_attacker
    claims = {**_claims(token), "sub": str(victim.id)}
    forged = pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS384")
    _assert_unauthorized(_me(client, forged))


def test_an_expired_access_token_is_refused(client, db):
    user = make_user()
    expired = create_access_token(
        identity=str(user.id),
        additional_claims={"fam": str(uuid.uuid4())},
        expires_delta=timedelta(seconds=-1),
    )
    _assert_unauthorized(_me(client, expired))


def test_an_expired_refresh_token_is_refused(client, db):
    user = make_user()
    expired = create_refresh_token(
        identity=str(user.id),
        additional_claims={"fam": str(uuid.uuid4())},
        expires_delta=timedelta(seconds=-1),
    )
    _assert_unauthorized(_refresh(client, expired))


def test_a_token_of_a_revoked_family_is_refused(client, db):
    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    from bookme.core.clock import now

    tokens.revoke_family(uuid.UUID(_claims(pair["access_token"])["fam"]), now())
    _assert_unauthorized(_me(client, pair["access_token"]))


def test_a_token_revoked_by_jti_is_refused(client, db):
    from bookme.core.clock import now

    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    tokens.revoke_token(_claims(pair["access_token"])["jti"], now() + timedelta(minutes=15))
    _assert_unauthorized(_me(client, pair["access_token"]))


# A token string is fully verified once per process (`users/verified.py`); what was accepted
# before must still be refused once it expires, is revoked or differs by a byte.


def test_an_accepted_token_is_refused_once_it_expires(client, db):
    import time

    user = make_user()
    short = create_access_token(
        identity=str(user.id),
        additional_claims={"fam": str(uuid.uuid4())},
        expires_delta=timedelta(seconds=2),
    )
    assert _me(client, short).status_code == 200
    time.sleep(max(0.0, _claims(short)["exp"] - time.time()) + 0.05)
    _assert_unauthorized(_me(client, short))


def test_an_accepted_token_is_refused_once_its_family_is_revoked(client, db):
    from bookme.core.clock import now

    make_user(email="salma@example.com")
    pair = login(client, "salma@example.com").get_json()
    assert _me(client, pair["access_token"]).status_code == 200
    tokens.revoke_family(uuid.UUID(_claims(pair["access_token"])["fam"]), now())
    _assert_unauthorized(_me(client, pair["access_token"]))


def test_an_accepted_token_with_another_signature_is_refused(client, db):
    make_user(email="salma@example.com")
    token = login(client, "salma@example.com").get_json()["access_token"]
    assert _me(client, token).status_code == 200
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _assert_unauthorized(_me(client, f"{header}.{payload}.{flipped}"))
    assert _me(client, token).status_code == 200


def test_an_accepted_token_is_not_parsed_again_on_later_requests(client, db, monkeypatch):
    import jwt

    make_user(email="salma@example.com")
    token = login(client, "salma@example.com").get_json()["access_token"]
    assert _me(client, token).status_code == 200
    parsed = []
    for name in ("decode", "get_unverified_header"):
        original = getattr(jwt, name)
        monkeypatch.setattr(
            jwt, name, lambda *a, _o=original, _n=name, **k: parsed.append(_n) or _o(*a, **k)
        )
    assert _me(client, token).status_code == 200
    assert _me(client, token).get_json()["email"] == "salma@example.com"
    assert parsed == []
    # A token not seen before is read in full.
    other = login(client, "salma@example.com").get_json()["access_token"]
    assert _me(client, other).status_code == 200
    assert "decode" in parsed and "get_unverified_header" in parsed


def test_a_token_for_a_user_that_no_longer_exists_is_refused(client, db):
    ghost = create_access_token(identity=str(uuid.uuid4()))
    _assert_unauthorized(_me(client, ghost))


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_a_missing_or_malformed_authorization_header_is_refused(client, db, header):
    headers = {"Authorization": header} if header else {}
    _assert_unauthorized(client.get("/api/v1/me", headers=headers))


def test_a_tampered_token_is_refused_on_tenant_endpoints_too(client, tenant):
    header, _payload, signature = tenant.owner.token.split(".")
    claims = _claims(tenant.owner.token)
    claims["sub"] = str(uuid.uuid4())
    response = client.get(
        "/api/v1/members",
        headers={
            "Authorization": f"Bearer {header}.{_b64(claims)}.{signature}",
            "X-Tenant": tenant.slug,
        },
    )
    _assert_unauthorized(response)
