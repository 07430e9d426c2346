"""A real SMTP server (aiosmtpd on a loopback port) and a guard against unexpected mail.

- `mailbox`: points the app's SMTP settings at the session's aiosmtpd server for one test
  and hands over what arrives. Every message must be taken (`mailbox.take(...)`): one left
  over fails the test, since it sent mail it didn't expect.
- Autouse guard: a test that did not ask for `mailbox` and opens an SMTP connection fails.
- `make_smtp_server(...)`: a further server with STARTTLS, implicit TLS or AUTH, for tests
  of the delivery modes themselves.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    over_tls: bool

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "no text/plain part"
        return part.get_content()

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None, "no text/html part"
        return part.get_content()


class _Handler:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        with self.lock:
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,  # type: ignore[arg-type]
                    authenticated_as=login.decode() if login else None,
                    over_tls=server.transport.get_extra_info("ssl_object") is not None,
                )
            )
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: _Handler
    controller: Controller
    _taken: int = 0
    active: bool = field(default=False)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
        self._taken = 0

    def take(self, count: int = 1) -> list[Received]:
        """The next `count` messages; fails unless exactly that many are waiting."""
        waiting = self.messages[self._taken :]
        assert len(waiting) == count, f"expected {count} message(s), got {len(waiting)}"
        self._taken += count
        return waiting

    def take_one(self) -> Received:
        return self.take(1)[0]

    @property
    def unexpected(self) -> list[Received]:
        return self.messages[self._taken :]


def make_smtp_server(
    *,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    credentials: tuple[str, str] | None = None,
) -> SmtpServer:
    """Start an aiosmtpd server on a free loopback port (stop it with `.controller.stop()`)."""
    handler = _Handler()
    kwargs: dict[str, Any] = {}
    if tls_context is not None and implicit_tls:
        kwargs["ssl_context"] = tls_context
    elif tls_context is not None:
        kwargs["tls_context"] = tls_context
        kwargs["require_starttls"] = True
    if credentials is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (data.login.decode(), data.password.decode()) == credentials
            )
            return AuthResult(success=ok, handled=False, auth_data=data)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = tls_context is not None
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(host="127.0.0.1", port=port, handler=handler, controller=controller)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = make_smtp_server()
    yield server
    server.controller.stop()


_original_connect = smtplib.SMTP.connect


@dataclass
class SmtpGuard:
    """Which SMTP servers this test may reach, and what it tried to reach otherwise."""

    allowed: set[tuple[str, int]] = field(default_factory=set)
    attempts: list[str] = field(default_factory=list)

    def allow(self, server: SmtpServer) -> None:
        self.allowed.add((server.host, server.port))


@pytest.fixture(autouse=True)
def smtp_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpGuard]:
    """Fail a test that opens an SMTP connection it did not ask for (via `mailbox`)."""
    guard = SmtpGuard()

    def connect(
        self: smtplib.SMTP, host: str = "localhost", port: int = 0, *a: Any, **k: Any
    ) -> Any:
        if (host, port) in guard.allowed:
            return _original_connect(self, host, port, *a, **k)
        guard.attempts.append(f"{host}:{port}")
        raise ConnectionRefusedError("this test did not expect to send mail (use `mailbox`)")

    monkeypatch.setattr(smtplib.SMTP, "connect", connect)
    yield guard
    if guard.attempts:
        pytest.fail(f"the test tried to send mail it didn't expect (SMTP to {guard.attempts})")


def point_app_at(
    app: Any, monkeypatch: pytest.MonkeyPatch, server: SmtpServer, **settings: Any
) -> None:
    """Make the app's SMTP settings name `server` for this test."""
    values = {"smtp_host": server.host, "smtp_port": server.port, "smtp_tls": "none",
              "smtp_username": None, "smtp_password": None, **settings}  # fmt: skip
    monkeypatch.setitem(app.config, "BOOKME", dataclasses.replace(app.config["BOOKME"], **values))


@pytest.fixture
def mailbox(
    app: Any, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, smtp_guard: SmtpGuard
) -> Iterator[SmtpServer]:
    """The app sends to the real SMTP server for this test; every message must be taken."""
    point_app_at(app, monkeypatch, smtp_server)
    smtp_guard.allow(smtp_server)
    smtp_server.clear()
    yield smtp_server
    left = smtp_server.unexpected
    smtp_server.clear()
    if left:
        subjects = [r.message["Subject"] for r in left]
        pytest.fail(f"the test sent mail it didn't expect: {subjects}")
