"""Rate-limit keys: the client address (after trusted proxies) and request-body identities."""

from __future__ import annotations

from flask import request


def client_address() -> str:
    """The socket's address, or what the configured trusted proxies report (ProxyFix)."""
    return request.remote_addr or "unknown"


def body_field(name: str) -> str:
    """A normalised value from the JSON body (per-account or per-phone limits)."""
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str):
        return f"{name}:-"
    return f"{name}:{value.strip().lower()[:320]}"
