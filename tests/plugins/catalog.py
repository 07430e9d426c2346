"""Catalog fixtures (tests/services, tests/staff): members of each role in the test tenant,
event subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bookme.core import events
from tests.conftest import add_member


@pytest.fixture
def manager(tenant):
    return add_member(tenant, "manager")


@pytest.fixture
def staff_member(tenant):
    return add_member(tenant, "staff")


@pytest.fixture
def subscribe() -> Iterator[Callable[[str, Callable[..., None]], None]]:
    """Subscribe a handler to a domain event for this test only."""
    added: list[tuple[str, Callable[..., None]]] = []

    def _subscribe(event: str, handler: Callable[..., Any]) -> None:
        events.subscribe(event)(handler)
        added.append((event, handler))

    yield _subscribe
    for event, handler in added:
        events._handlers[event].remove(handler)
