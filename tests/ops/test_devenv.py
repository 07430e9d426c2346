"""Which PostgreSQL and Redis `make test` picks: given URLs, else 127.0.0.1, else embedded."""

from __future__ import annotations

import pytest

from bookme import devenv, embedded


@pytest.fixture
def started(monkeypatch) -> list[dict]:
    calls: list[dict] = []

    def fake_start(name, database="bookme", **kwargs):
        calls.append({"name": name, "database": database, **kwargs})
        return embedded.Embedded(
            directory=embedded.data_root() / name,
            database_url=f"postgresql+psycopg://postgres@/{database}?host=/sock",
            redis_url="redis://127.0.0.1:9/0",
        )

    monkeypatch.setattr(embedded, "start_embedded", fake_start)
    for name in ("TEST_DATABASE_URL", "REDIS_URL", "BOOKME_TEST_SERVICES"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_given_urls_win(monkeypatch, started):
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+psycopg://u@db/x")
    monkeypatch.setenv("REDIS_URL", "redis://cache/2")
    assert devenv.services_for_tests() == devenv.Services(
        "postgresql+psycopg://u@db/x", "redis://cache/2"
    )
    assert started == []


def test_servers_on_loopback_come_next(monkeypatch, started):
    monkeypatch.setattr(devenv, "_answers", lambda host, port, timeout=0.3: True)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/5")
    services = devenv.services_for_tests()
    assert services.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/bookme_test"
    assert services.redis_url == "redis://127.0.0.1:6379/5"
    assert started == []


def test_embedded_servers_start_for_what_is_missing(monkeypatch, started):
    monkeypatch.setattr(devenv, "_answers", lambda host, port, timeout=0.3: False)
    monkeypatch.setenv("REDIS_URL", "redis://cache/1")
    services = devenv.services_for_tests()
    assert services.database_url.endswith("/bookme_test?host=/sock")
    assert services.redis_url == "redis://cache/1"
    assert started == [
        {"name": "test", "database": "bookme_test", "postgres": True, "redis": False}
    ]


def test_embedded_can_be_forced_on_a_machine_with_servers(monkeypatch, started):
    monkeypatch.setattr(devenv, "_answers", lambda host, port, timeout=0.3: True)
    monkeypatch.setenv("BOOKME_TEST_SERVICES", "embedded")
    services = devenv.services_for_tests()
    assert services.redis_url == "redis://127.0.0.1:9/0"
    assert started[0]["postgres"] and started[0]["redis"]


def test_a_closed_port_does_not_answer():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert devenv._answers("127.0.0.1", port, timeout=0.2) is False
