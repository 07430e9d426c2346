"""Gunicorn's access log, should an operator turn it on, with manage tokens replaced: the
token in `/m/<token>` is a credential and must not reach a log line (nor may a Referer
carrying one). Set as `logger_class` in `bookme.gunicorn_conf`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gunicorn.glogging import Logger

from bookme.core.logging import redact_path


def redact_uri(uri: str) -> str:
    """A request target or a full URL with its path redacted (query and host kept)."""
    if not uri or uri == "-":
        return uri
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=redact_path(parts.path)))


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        raw = environ.get("RAW_URI", "")
        atoms["r"] = f"{environ['REQUEST_METHOD']} {redact_uri(raw)} {environ['SERVER_PROTOCOL']}"
        atoms["U"] = redact_path(environ.get("PATH_INFO") or "")
        atoms["f"] = redact_uri(atoms.get("f", "-"))
        if "{referer}i" in atoms:
            atoms["{referer}i"] = redact_uri(atoms["{referer}i"])
        return atoms
