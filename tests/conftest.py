"""Test harness: a real PostgreSQL and Redis, migrated with the real migrations.

Each test runs inside an outer transaction that is rolled back at the end; the app's session
joins it through savepoints, so `transactional` commits are real to the code but leave
nothing behind. Tests that need real commits (workers, concurrency) use `committed_db`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import scoped_session, sessionmaker

from bookme import create_app
from bookme.config import Settings
from bookme.devenv import services_for_tests

SERVICES = services_for_tests()

# Shared fixtures live in tests/plugins/<name>.py (SMTP server, fake providers, …).
pytest_plugins = sorted(
    f"tests.plugins.{path.stem}"
    for path in (Path(__file__).parent / "plugins").glob("*.py")
    if path.stem != "__init__"
)
PASSWORD = "correct horse battery"  # noqa: S105


def _admin_url(url: str) -> tuple[str, str]:
    # Parsed, not split: the embedded server's URL names its socket dir in `?host=/path`.
    parsed = sa.engine.make_url(url)
    return parsed.set(database="postgres").render_as_string(hide_password=False), parsed.database


def _recreate_database(url: str) -> None:
    admin_url, name = _admin_url(url)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "testing",
        "database_url": SERVICES.database_url,
        "redis_url": SERVICES.redis_url,
        "secret_key": "test-secret-key-" + "x" * 32,
        "jwt_secret_key": "test-jwt-secret-" + "y" * 32,
        "public_base_url": "http://bookme.test",
        "base_domain": "bookme.test",
        "log_json": False,
        "encryption_keys": ("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    _recreate_database(SERVICES.database_url)
    application = create_app(test_settings(), PROPAGATE_UNEXPECTED=True)
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield application
    from bookme.extensions import db

    with application.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def redis_client(app: Flask) -> Redis:
    return app.extensions["bookme.redis"]


@pytest.fixture
def db(app: Flask, redis_client: Redis) -> Iterator[Any]:
    """The app's session, joined to an outer transaction rolled back after the test."""
    from bookme.extensions import db as fsa

    redis_client.flushdb()
    with app.app_context():
        connection = fsa.engine.connect()
    outer = connection.begin()
    original = fsa.session
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    fsa.session = scoped_session(factory)
    try:
        with app.app_context():
            yield fsa
    finally:
        fsa.session.remove()
        fsa.session = original
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def client(app: Flask, db: Any) -> FlaskClient:
    return app.test_client()


# --- people and tenants ------------------------------------------------------------------------


@dataclass
class Member:
    user_id: uuid.UUID
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class TenantInfo:
    id: uuid.UUID
    slug: str
    owner: Member

    def headers(self, member: Member | None = None) -> dict[str, str]:
        who = member or self.owner
        return {**who.headers, "X-Tenant": self.slug}


def make_user(email: str | None = None, full_name: str = "Test User", verified: bool = True) -> Any:
    from bookme.core.clock import now
    from bookme.core.db import session
    from bookme.users.models import User
    from bookme.users.passwords import hash_password

    user = User(
        email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
        full_name=full_name,
        password_hash=hash_password(PASSWORD),
        email_verified_at=now() if verified else None,
    )
    session().add(user)
    session().commit()  # releases the test's savepoint: a failing request can't roll it back
    return user


def access_token(user: Any) -> str:
    from bookme.users.tokens import issue_tokens

    return issue_tokens(user)["access_token"]


def make_tenant(slug: str | None = None, **kwargs: Any) -> TenantInfo:
    from bookme.tenants.service import create_tenant

    owner = make_user(full_name="Owner")
    tenant = create_tenant(
        slug=slug or f"t-{uuid.uuid4().hex[:12]}", name=kwargs.pop("name", "Salon Test"),
        owner_id=owner.id, **kwargs,
    )
    return TenantInfo(
        id=tenant.id,
        slug=tenant.slug,
        owner=Member(owner.id, owner.email, "owner", access_token(owner)),
    )


def add_member(tenant: TenantInfo, role: str) -> Member:
    from bookme.core.db import session
    from bookme.users.models import Membership

    user = make_user(full_name=role.capitalize())
    session().add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    session().commit()
    return Member(user.id, user.email, role, access_token(user))


@pytest.fixture
def tenant(db: Any) -> TenantInfo:
    """A fresh tenant (schema provisioned inside the test's transaction) and its owner."""
    return make_tenant()


@pytest.fixture
def other_tenant(db: Any) -> TenantInfo:
    return make_tenant()
