"""Find (or start) the PostgreSQL and Redis that `make run` and `make test` use.

Order: the URLs in the environment; else servers answering on 127.0.0.1; else embedded
servers started in a local data folder (`.data/`). `BOOKME_TEST_SERVICES=embedded` skips the
127.0.0.1 probe (to exercise the embedded fallback on a machine that has servers).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Services:
    database_url: str  # a server URL without the database name's suffix handling
    redis_url: str


def _answers(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def local_services(database: str) -> Services | None:
    """Servers on 127.0.0.1 (the CI and developer machines), when both answer."""
    if _answers("127.0.0.1", 5432) and _answers("127.0.0.1", 6379):
        return Services(
            database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
            redis_url="redis://127.0.0.1:6379/0",
        )
    return None


def services_for_tests() -> Services:
    db = os.environ.get("TEST_DATABASE_URL")
    redis = os.environ.get("REDIS_URL")
    if db and redis:
        return Services(db, redis)
    if os.environ.get("BOOKME_TEST_SERVICES", "auto") != "embedded":
        found = local_services("bookme_test")
        if found is not None:
            return Services(db or found.database_url, redis or found.redis_url)
    from bookme.embedded import start_embedded

    embedded = start_embedded("test", database="bookme_test", postgres=not db, redis=not redis)
    return Services(db or embedded.database_url or "", redis or embedded.redis_url or "")
