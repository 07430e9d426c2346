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


def test_a_connection_lost_mid_request_is_a_503_and_the_next_request_gets_a_fresh_one(
    app: Flask,
) -> None:
    """The backend dies between the checkout and the request's statement (a restart, a kill):
    a problem with `service_unavailable`, never a 500, and the dead connection is not reused."""
    import sqlalchemy as sa

    from bookme.extensions import db

    killed: list[int] = []

    def kill_first(conn, cursor, statement, parameters, context, executemany):
        if not killed and "users" in statement:
            killed.append(int(conn.connection.dbapi_connection.info.backend_pid))
            _terminate(killed)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", kill_first)
    try:
        client = app.test_client()
        body = {"email": "nobody@example.com", "password": "not the password 1"}
        response = client.post("/api/v1/auth/login", json=body)
        assert killed
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "service_unavailable"
        assert client.post("/api/v1/auth/login", json=body).status_code == 401
    finally:
        with app.app_context():
            sa.event.remove(db.engine, "before_cursor_execute", kill_first)
