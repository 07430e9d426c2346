"""Connections the database dropped (a restart, an idle timeout, an operator's kill) are
replaced when the pool hands them out, so no request fails on one."""

from __future__ import annotations

import psycopg
from flask import Flask

from tests.conftest import SERVICES


def _terminate(pids: list[int]) -> None:
    url = SERVICES.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_requests_after_the_database_dropped_the_pools_connections_succeed(app: Flask) -> None:
    from bookme.extensions import db

    with app.app_context():
        held = [db.engine.connect() for _ in range(3)]  # three connections in the pool
        pids = [int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()) for conn in held]
        for conn in held:
            conn.rollback()
            conn.close()
        pooled = db.engine.pool.checkedin()
        assert pooled >= 3
    _terminate(pids)

    client = app.test_client()
    for _ in range(pooled + 2):  # every pooled connection is handed out at least once
        response = client.get("/readyz")
        assert response.status_code == 200, response.get_data(as_text=True)
