"""Structured JSON logs: one line per request with its id, tenant, status and duration."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bookme.core.logging import JsonFormatter


@pytest.fixture
def json_lines():
    """What the JSON log handler would write, one dict per record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger("bookme.request"), logging.getLogger("bookme.errors")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    try:
        yield read
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def test_a_request_logs_one_json_line_with_its_id_tenant_status_and_duration(
    client, tenant, json_lines
):
    response = client.get(
        f"/api/v1/tenants/{tenant.slug}",
        headers={**tenant.owner.headers, "X-Request-ID": "abc-123"},
    )
    assert response.status_code == 200
    [line] = [entry for entry in json_lines() if entry["logger"] == "bookme.request"]
    assert line["request_id"] == "abc-123"
    assert line["tenant"] == tenant.slug
    assert (line["method"], line["path"], line["status"]) == (
        "GET",
        f"/api/v1/tenants/{tenant.slug}",
        200,
    )
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["ts"].endswith("+00:00")


def test_a_generated_request_id_is_the_one_logged_and_echoed(client, db, json_lines):
    response = client.get("/api/v1/nothing")
    [line] = [entry for entry in json_lines() if entry["logger"] == "bookme.request"]
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["status"] == 404
    assert "tenant" not in line


def test_manage_tokens_never_reach_the_logs(client, db, json_lines):
    token = "Zx9-secret-manage-token"
    client.get(f"/api/v1/public/bookings/{token}/cancel")
    client.get(f"/m/{token}")
    lines = json_lines()
    assert lines
    assert token not in json.dumps(lines)
    assert {entry["path"] for entry in lines} == {
        "/api/v1/public/bookings/<token>/cancel",
        "/m/<token>",
    }


def test_health_probes_log_at_debug_only(client, db, json_lines):
    client.get("/healthz")
    [line] = json_lines()
    assert line["level"] == "debug"


def test_an_unexpected_error_is_logged_with_its_trace_and_request_id(
    app, client, db, json_lines, monkeypatch
):
    monkeypatch.setitem(app.config, "PROPAGATE_UNEXPECTED", False)
    monkeypatch.setitem(app.view_functions, "health.healthz", lambda: {}["missing"])
    client.get("/healthz", headers={"X-Request-ID": "boom-1"})
    [error] = [entry for entry in json_lines() if entry["logger"] == "bookme.errors"]
    assert error["request_id"] == "boom-1"
    assert error["level"] == "error"
    assert "KeyError" in error["exc"]
