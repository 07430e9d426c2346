"""Races that only real commits on separate connections can show; they clean up after
themselves and do not use the rolled-back `db` fixture."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import PASSWORD
from tests.users.conftest import bearer


def _race(app: Flask, requests: list[tuple[str, str, dict[str, str], Any]]) -> list[int]:
    """Send the requests at the same moment, each on its own thread, connection and session."""
    barrier = threading.Barrier(len(requests))
    results: list[int | None] = [None] * len(requests)
    failures: list[BaseException] = []

    def send(index: int, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=10)
            response = getattr(client, method)(path, headers=headers, json=body)
            results[index] = response.status_code
        except BaseException as exc:  # surfaced below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    return results  # type: ignore[return-value]


@pytest.fixture
def committed(app: Flask) -> Iterator[dict[str, list[Any]]]:
    """Users, tenants and families created for real; removed afterwards."""
    from bookme.extensions import db

    made: dict[str, list[Any]] = {"users": [], "tenants": [], "families": []}
    yield made
    with app.app_context():
        from bookme.tenants import schema as tenant_schema
        from bookme.users import tokens

        with db.engine.begin() as conn:
            for schema_name in made["tenants"]:
                conn.execute(
                    sa.text("DELETE FROM public.tenants WHERE schema_name = :s"), {"s": schema_name}
                )
                tenant_schema.drop_schema(conn, schema_name)
            for family in made["families"]:
                conn.execute(
                    sa.text("DELETE FROM public.token_revocations WHERE jti = :k"),
                    {"k": tokens.family_key(family)},
                )
            for user_id in made["users"]:
                conn.execute(sa.text("DELETE FROM public.users WHERE id = :id"), {"id": user_id})


def _user(made: dict[str, list[Any]], name: str) -> Any:
    from bookme.extensions import db
    from bookme.users.models import User
    from bookme.users.passwords import hash_password

    user = User(
        email=f"{name}-{uuid.uuid4().hex[:8]}@example.com",
        full_name=name,
        password_hash=hash_password(PASSWORD),
    )
    db.session.add(user)
    db.session.commit()
    made["users"].append(user.id)
    return user


def test_two_simultaneous_refreshes_of_one_token_let_one_through_and_revoke_the_family(
    app, committed
):
    from bookme.extensions import db
    from bookme.users.tokens import issue_tokens

    with app.app_context():
        user = _user(committed, "racer")
        pair = issue_tokens(user)
        db.session.commit()
        family = db.session.execute(
            sa.text("SELECT family_id FROM public.refresh_tokens WHERE user_id = :u"),
            {"u": user.id},
        ).scalar_one()
        db.session.remove()
    committed["families"].append(family)
    request = ("post", "/api/v1/auth/refresh", bearer(pair["refresh_token"]), None)
    assert sorted(_race(app, [request, request])) == [200, 401]
    # The loser's replay revoked the family, the winner's new tokens included.
    with app.app_context():
        revoked = db.session.execute(
            sa.text(
                "SELECT count(*) = count(revoked_at) FROM public.refresh_tokens "
                "WHERE family_id = :f"
            ),
            {"f": family},
        ).scalar_one()
        db.session.remove()
    assert revoked is True


def test_two_owners_demoting_each_other_at_once_leave_one_owner(app, committed):
    from bookme.extensions import db
    from bookme.tenants.service import create_tenant
    from bookme.users.models import Membership
    from bookme.users.tokens import issue_tokens

    with app.app_context():
        first = _user(committed, "first")
        second = _user(committed, "second")
        tenant = create_tenant(slug=f"race-{uuid.uuid4().hex[:10]}", name="Race", owner_id=first.id)
        committed["tenants"].append(tenant.schema_name)
        db.session.add(Membership(tenant_id=tenant.id, user_id=second.id, role="owner"))
        db.session.commit()
        tokens = {u.id: issue_tokens(u)["access_token"] for u in (first, second)}
        db.session.commit()
        db.session.remove()

    def demote(actor: Any, target: Any) -> tuple[str, str, dict[str, str], Any]:
        headers = {**bearer(tokens[actor.id]), "X-Tenant": tenant.slug}
        return ("patch", f"/api/v1/members/{target.id}", headers, {"role": "staff"})

    results = sorted(_race(app, [demote(first, second), demote(second, first)]))
    # The loser is refused either by the last-owner rule (409) or, when the winner committed
    # before the loser's access check, because it is no longer an owner (403).
    assert results[0] == 200
    assert results[1] in {403, 409}
    with app.app_context():
        owners = db.session.execute(
            sa.text(
                "SELECT count(*) FROM public.memberships WHERE tenant_id = :t AND role = 'owner'"
            ),
            {"t": tenant.id},
        ).scalar_one()
        db.session.remove()
    assert owners == 1
