"""Periodic jobs: a module registers them at import time (in its `tasks.py`), and the single
`scheduler` process (`python -m bookme.worker scheduler`) enqueues them on RQ when due.

    periodic.register("bookings.expire_holds", 60, expire_unpaid_holds)

`func` must be a module-level function (RQ imports it by name in the worker), normally wrapped
with `bookme.core.tasks.job`, and idempotent: after a scheduler restart or hand-over a tick can
run early or twice.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: Callable[[], Any]
    every_seconds: int | None = None
    cron: str | None = None


_jobs: dict[str, PeriodicJob] = {}


def register(
    name: str, every_seconds: int | None, func: Callable[[], Any], *, cron: str | None = None
) -> PeriodicJob:
    """Run `func` every `every_seconds`, or on a crontab schedule (`cron="0 3 * * *"`, UTC)."""
    if (every_seconds is None) == (cron is None):
        raise ValueError("give exactly one of every_seconds and cron")
    if every_seconds is not None and every_seconds < 1:
        raise ValueError("every_seconds must be at least 1")
    if "<locals>" in func.__qualname__ or "<lambda>" in func.__qualname__:
        raise ValueError("a periodic job must be a module-level function the worker can import")
    job = PeriodicJob(name=name, func=func, every_seconds=every_seconds, cron=cron)
    existing = _jobs.get(name)
    if existing is not None and existing != job:
        raise ValueError(f"periodic job {name!r} is already registered differently")
    _jobs[name] = job
    return job


def jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda job: job.name)


def unregister(name: str) -> None:
    _jobs.pop(name, None)


def discover(package: str = "bookme") -> list[str]:
    """Import every `<package>.<module>.tasks`, where modules register their periodic jobs."""
    root = importlib.import_module(package)
    imported = []
    for info in pkgutil.iter_modules(root.__path__):
        name = f"{package}.{info.name}.tasks"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
    return imported
