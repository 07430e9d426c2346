"""Structured JSON logs carrying the request id and the tenant."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from flask import g, has_request_context, request

from bookme.core import tenancy


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        tenant = tenancy.current()
        if tenant is not None:
            entry["tenant"] = tenant.slug
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
            entry["method"] = request.method
            entry["path"] = redact_path(request.path)
        for key in ("status", "duration_ms", "job", "event"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def redact_path(path: str) -> str:
    """Manage tokens are credentials: never let one reach a log line."""
    for prefix in ("/m/", "/api/v1/public/bookings/"):
        if path.startswith(prefix) and len(path) > len(prefix):
            rest = path[len(prefix) :].split("/", 1)
            return prefix + "<token>" + ("/" + rest[1] if len(rest) > 1 else "")
    return path


def configure(json_logs: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_bookme", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._bookme = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces each autogenerate plugin it loads at INFO, on every `flask` command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
