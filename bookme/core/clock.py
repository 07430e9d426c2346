"""The one source of "now" for routes and jobs; tests move it explicitly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC)


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Pin `now()` to `at` (tests); `advance` moves it."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("the clock takes aware datetimes only")
    previous, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: timedelta) -> None:
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen += delta
