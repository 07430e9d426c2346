"""Gunicorn's access log, should an operator turn it on, with tokens replaced: the token in
`/m/<token>` and the one-time token in the account emails' links (`/account/verify-email?token=`)
are credentials and must not reach a log line (nor may a Referer carrying one). Set as
`logger_class` in `bookme.gunicorn_conf`."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# Wherever a manage token can sit in a path: the manage page and the public booking API.
_TOKEN_IN_PATH = re.compile(r"(/m/|/api/v1/public/bookings/)[A-Za-z0-9_-]{16,128}")
# A `token` query parameter, in a URL or in a bare query string (gunicorn's `%(q)s`).
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&;])token=)[^&;#\s\"]+")


def redact_uri(text: str) -> str:
    """Any text (request line, path, query, URL, Referer) with tokens replaced."""
    if not text:
        return text
    return _TOKEN_IN_QUERY.sub(r"\1<token>", _TOKEN_IN_PATH.sub(r"\1<token>", text))


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact_uri(v) if isinstance(v, str) else v for k, v in atoms.items()}
