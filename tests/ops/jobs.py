"""Jobs the worker and scheduler tests enqueue (module-level, so RQ can import them by name)."""

from __future__ import annotations

import json
import os

from flask import current_app

from bookme.core import tasks


@tasks.job
def record_process(key: str) -> None:
    """Note which process and which app ran this job."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    tasks.redis().rpush(key, json.dumps({"pid": os.getpid(), "app": id(app)}))


@tasks.job
def explode(message: str) -> None:
    raise RuntimeError(message)


@tasks.job
def tick() -> None:
    """A periodic job: count the ticks."""
    tasks.redis().incr("bookme:test:ticks")
