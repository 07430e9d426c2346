"""Gunicorn's access log, should an operator turn it on, with manage tokens replaced: the
token in `/m/<token>` is a credential and must not reach a log line (nor may a Referer
carrying one). Set as `logger_class` in `bookme.gunicorn_conf`."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# Wherever a manage token can sit in a path: the manage page and the public booking API.
_TOKEN_IN_PATH = re.compile(r"(/m/|/api/v1/public/bookings/)[A-Za-z0-9_-]{16,128}")


def redact_uri(text: str) -> str:
    """Any text (request line, path, URL, Referer) with manage tokens replaced."""
    return _TOKEN_IN_PATH.sub(r"\1<token>", text) if text else text


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact_uri(v) if isinstance(v, str) else v for k, v in atoms.items()}
