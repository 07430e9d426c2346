"""Two replacements of one week at the same moment: one runs after the other, never a mix.

Real commits on separate connections; the tenant and its owner are removed afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from bookme.core import tenancy
from tests.conftest import make_tenant
from tests.factories import make_staff, use_tenant


@pytest.fixture
def committed_staff(app: Flask) -> Iterator[tuple[Any, Any]]:
    from bookme.extensions import db
    from bookme.tenants import schema as tenant_schema

    with app.app_context():
        info = make_tenant()
        db.session.commit()
        use_tenant(info)
        staff_id = make_staff(display_name="Nadia").id
        tenancy.activate(None)
        db.session.remove()
    try:
        yield info, staff_id
    finally:
        with app.app_context(), db.engine.begin() as conn:
            schema = conn.execute(
                sa.text("DELETE FROM public.tenants WHERE id = :id RETURNING schema_name"),
                {"id": info.id},
            ).scalar_one()
            tenant_schema.drop_schema(conn, schema)
            conn.execute(
                sa.text("DELETE FROM public.users WHERE id = :id"), {"id": info.owner.user_id}
            )


def _race(app: Flask, url: str, headers: dict[str, str], weeks: list[Any]) -> list[int]:
    """PUT each week at the same moment, each on its own thread, connection and session."""
    barrier = threading.Barrier(len(weeks))
    statuses: list[int] = []
    failures: list[BaseException] = []

    def put(week: list[dict[str, Any]]) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=10)
            response = client.put(url, json=week, headers=headers)
            statuses.append(response.status_code)
        except BaseException as exc:  # surfaced below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=put, args=(week,)) for week in weeks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    return statuses


def test_concurrent_week_replacements_never_mix(app, committed_staff):
    info, staff_id = committed_staff
    weeks = [
        [{"weekday": 1, "start": "09:00", "end": "12:00"}],
        [
            {"weekday": 1, "start": "13:00", "end": "17:00"},
            {"weekday": 2, "start": "09:00", "end": "10:00"},
        ],
    ]
    url = f"/api/v1/staff/{staff_id}/working-hours"
    for _ in range(5):
        assert _race(app, url, info.headers(), weeks) == [200, 200]
        final = app.test_client().get(url, headers=info.headers()).get_json()
        assert final in (weeks[0], weeks[1]), final
