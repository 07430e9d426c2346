"""`flask bookme users make-operator`, the expired-token purge, and the mail guard itself."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bookme.core import clock, periodic
from bookme.users import tasks, tokens
from bookme.users.models import OneTimeToken, RefreshToken, TokenRevocation, User
from tests.users.conftest import make_user


def _is_operator(db, user_id):
    db.session.expire_all()
    return db.session.get(User, user_id).is_operator


def test_make_operator_grants_and_revokes_operator_rights(app, db):
    user = make_user(email="ops@example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bookme", "users", "make-operator", "OPS@example.com"])
    assert result.exit_code == 0, result.output
    assert "ops@example.com is now a platform operator" in result.output
    assert _is_operator(db, user.id) is True
    result = runner.invoke(args=["bookme", "users", "make-operator", "--revoke", "ops@example.com"])
    assert result.exit_code == 0, result.output
    assert _is_operator(db, user.id) is False


def test_make_operator_with_an_unknown_email_fails_loudly(app, db):
    result = app.test_cli_runner().invoke(
        args=["bookme", "users", "make-operator", "nobody@example.com"]
    )
    assert result.exit_code == 1
    assert "No account uses 'nobody@example.com'" in result.output


def test_the_purge_forgets_only_what_has_expired(db):
    user = make_user()
    now = clock.now()
    sess = db.session
    sess.add_all(
        [
            TokenRevocation(jti="old", expires_at=now - timedelta(seconds=1)),
            TokenRevocation(jti="live", expires_at=now + timedelta(minutes=5)),
            RefreshToken(
                jti="r-old", family_id=user.id, user_id=user.id, expires_at=now - timedelta(days=1)
            ),
            RefreshToken(
                jti="r-live", family_id=user.id, user_id=user.id, expires_at=now + timedelta(days=1)
            ),
            OneTimeToken(
                token_hash=b"a" * 32,
                user_id=user.id,
                purpose="email_verify",
                expires_at=now - timedelta(hours=1),
            ),
            OneTimeToken(
                token_hash=b"b" * 32,
                user_id=user.id,
                purpose="password_reset",
                expires_at=now + timedelta(hours=1),
            ),
        ]
    )
    sess.commit()
    with clock.frozen(now):
        counts = tasks.purge_expired_tokens()
    assert counts == {"token_revocations": 1, "refresh_tokens": 1, "one_time_tokens": 1}
    assert sess.scalars(sa.select(TokenRevocation.jti)).all() == ["live"]
    assert sess.scalars(sa.select(RefreshToken.jti)).all() == ["r-live"]
    assert sess.scalars(sa.select(OneTimeToken.purpose)).all() == ["password_reset"]


def test_the_purge_runs_periodically():
    job = {j.name: j for j in periodic.jobs()}["users.purge_expired_tokens"]
    assert job.func is tasks.purge_expired_tokens
    assert job.every_seconds == 3600


def test_a_family_revocation_outlives_every_token_of_the_family(db):
    user = make_user()
    family = user.id
    now = clock.now()
    db.session.add(
        RefreshToken(
            jti="far", family_id=family, user_id=user.id, expires_at=now + timedelta(days=90)
        )
    )
    db.session.flush()
    tokens.revoke_family(family, now)
    kept_until = db.session.scalar(
        sa.select(TokenRevocation.expires_at).where(
            TokenRevocation.jti == tokens.family_key(family)
        )
    )
    assert kept_until == now + timedelta(days=90)


def test_the_guard_refuses_smtp_connections_a_test_did_not_ask_for(smtp_guard):
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", 2525)
    assert smtp_guard.attempts == ["127.0.0.1:2525"]
    smtp_guard.attempts.clear()  # this test expected it; others fail at teardown
