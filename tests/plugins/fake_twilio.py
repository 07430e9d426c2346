"""A local HTTP server speaking Twilio's Messages wire format (create, fetch, list).

The real `twilio` SDK talks to it through `TWILIO_API_BASE`. It keeps every message it
accepted, answers after a configurable latency, and fails on demand: the next N calls with
an HTTP status and Twilio error code, every call for one recipient, or by accepting a
message and then dropping the connection without an answer (the case a sender cannot tell
from a failure); and it holds calls on demand, before or after taking the message, so a
test can kill a sender mid-call. Usable from tests (`fake_twilio` fixture) and `bench/`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"


@dataclass
class Failure:
    status: int
    code: int | None
    message: str
    drop: bool = False  # accept the message, then close the connection without answering


@dataclass
class Hold:
    after_create: bool
    released: threading.Event = field(default_factory=threading.Event)
    discard: bool = False  # on release, drop held requests that had not been taken

    on_release: Callable[[], None] = lambda: None

    def release(self, *, discard: bool = False) -> None:
        """Let held calls go on (or drop the untaken ones); later calls are not held."""
        self.discard = discard
        self.on_release()
        self.released.set()


@dataclass
class FakeTwilio:
    """State shared with the request handler; every method is thread-safe."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    latency: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_failures: list[Failure] = field(default_factory=list)
    _recipient_failures: dict[str, Failure] = field(default_factory=dict)
    _hold: Hold | None = None
    url: str = ""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # stamps messages

    # --- configuration ---------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.latency = 0.0
            self.messages.clear()
            self.calls.clear()
            self._next_failures.clear()
            self._recipient_failures.clear()
            self._hold = None
            self.clock = lambda: datetime.now(UTC)

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "",
        drop: bool = False,
    ) -> None:
        """The next `count` create calls fail (or, with `drop`, succeed without an answer)."""
        with self._lock:
            self._next_failures.extend(
                Failure(status, code, message or f"Fake failure {status}", drop)
                for _ in range(count)
            )

    def fail_recipient(self, to: str, *, status: int = 400, code: int, message: str = "") -> None:
        """Every create call for `to` (as sent, e.g. `whatsapp:+212…`) fails permanently."""
        with self._lock:
            self._recipient_failures[to] = Failure(status, code, message or f"Error {code}")

    def hold(self, *, after_create: bool) -> Hold:
        """Hold every create call until released: before taking the message (the provider is
        unreachable) or after taking it (the answer is late, or never read)."""
        hold = Hold(after_create=after_create)

        def detach() -> None:
            with self._lock:
                if self._hold is hold:
                    self._hold = None

        hold.on_release = detach
        with self._lock:
            self._hold = hold
        return hold

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        with self._lock:
            for message in self.messages:
                if message["sid"] == sid:
                    message["status"] = status
                    message["error_code"] = error_code

    # --- reads ---------------------------------------------------------------------------

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.messages if m["to"] == to]

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.messages]

    # --- request handling ---------------------------------------------------------------

    def _create(self, form: dict[str, str]) -> tuple[int, dict[str, Any], bool]:
        with self._lock:
            self.calls["create"] += 1
            hold = self._hold
        if hold is not None and not hold.after_create:
            hold.released.wait(120)
            if hold.discard:
                return 0, {}, True
        status, payload, drop = self._take(form)
        if hold is not None and hold.after_create:
            hold.released.wait(120)
        return status, payload, drop

    def _take(self, form: dict[str, str]) -> tuple[int, dict[str, Any], bool]:
        with self._lock:
            failure = self._recipient_failures.get(form.get("To", ""))
            if failure is None and self._next_failures:
                failure = self._next_failures.pop(0)
            if failure is not None and not failure.drop:
                return failure.status, _error(failure), False
            now = self.clock().astimezone(UTC)
            body = form.get("Body")
            if form.get("ContentSid"):
                body = f"[content {form['ContentSid']}] {form.get('ContentVariables', '')}"
            message = {
                "sid": "SM" + uuid.uuid4().hex,
                "account_sid": self.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": body,
                "content_sid": form.get("ContentSid"),
                "content_variables": form.get("ContentVariables"),
                "status_callback": form.get("StatusCallback"),
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "error_code": None,
                "error_message": None,
                "date_created": format_datetime(now, usegmt=True),
                "date_updated": format_datetime(now, usegmt=True),
                "date_sent": format_datetime(now, usegmt=True),
                "_created": now,
            }
            self.messages.append(message)
            return 201, _public(message), failure is not None and failure.drop

    def _fetch(self, sid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls["fetch"] += 1
            for message in self.messages:
                if message["sid"] == sid:
                    return 200, _public(message)
        return 404, _error(Failure(404, 20404, f"The requested resource {sid} was not found"))

    def _list(self, query: dict[str, str], path: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls["list"] += 1
            found = [
                m
                for m in self.messages
                if m["to"] == query.get("To", m["to"]) and m["from"] == query.get("From", m["from"])
            ]
        found.sort(key=lambda m: m["_created"], reverse=True)
        size = int(query.get("PageSize", "50"))
        page = [_public(m) for m in found[:size]]
        return 200, {
            "messages": page,
            "page": 0,
            "page_size": size,
            "start": 0,
            "end": len(page) - 1,
            "uri": path,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
        }


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _error(failure: Failure) -> dict[str, Any]:
    return {
        "code": failure.code,
        "message": failure.message,
        "status": failure.status,
        "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
    }


def _handler(state: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    prefix = f"/2010-04-01/Accounts/{state.account_sid}/Messages"
    expected_auth = (
        "Basic " + base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, as from a real server

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == expected_auth:
                return True
            self._reply(401, _error(Failure(401, 20003, "Authenticate")))
            return False

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if not self._authorised():
                return
            if urlsplit(self.path).path != prefix + ".json":
                self._reply(404, _error(Failure(404, 20404, "Not found")))
                return
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            if state.latency:
                time.sleep(state.latency)
            status, payload, drop = state._create(form)
            if drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._reply(status, payload)

        def do_GET(self) -> None:
            if not self._authorised():
                return
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if state.latency:
                time.sleep(state.latency)
            if parts.path == prefix + ".json":
                self._reply(*state._list(query, parts.path))
            elif parts.path.startswith(prefix + "/") and parts.path.endswith(".json"):
                self._reply(*state._fetch(parts.path[len(prefix) + 1 : -5]))
            else:
                self._reply(404, _error(Failure(404, 20404, "Not found")))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (a killed worker) is part of the tests.
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def start_fake_twilio(host: str = "127.0.0.1", port: int = 0) -> tuple[FakeTwilio, _Server]:
    state = FakeTwilio()
    server = _Server((host, port), _handler(state))
    state.url = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fake-twilio", daemon=True).start()
    return state, server


@pytest.fixture(scope="session")
def _fake_twilio_server() -> Iterator[FakeTwilio]:
    state, server = start_fake_twilio()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_twilio(_fake_twilio_server: FakeTwilio) -> Iterator[FakeTwilio]:
    """The fake Twilio, emptied for this test."""
    _fake_twilio_server.reset()
    yield _fake_twilio_server
    _fake_twilio_server.reset()
