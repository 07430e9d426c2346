"""In-process domain events, delivered synchronously inside the emitting transaction.

Lets a module react to another's changes (communications to bookings, payments to
bookings) without the emitter importing the listener, so dependencies stay one-way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(event: str) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        if fn not in _handlers[event]:
            _handlers[event].append(fn)
        return fn

    return decorator


def emit(event: str, **payload: Any) -> None:
    """Call every handler of `event`; a handler's failure aborts the emitting unit of work."""
    for handler in list(_handlers.get(event, ())):
        handler(**payload)
