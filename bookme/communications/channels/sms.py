"""SMS through the Twilio SDK; the Twilio plumbing WhatsApp shares (client, errors, lookups).

`TWILIO_API_BASE` points the SDK at another server (a local fake in tests and demos): the
SDK builds `https://api.twilio.com/...` URLs and our HTTP client rewrites scheme and host.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bookme.communications.channels.base import (
    Message,
    PermanentFailure,
    ProviderStatus,
    Sent,
    TemporaryFailure,
)
from bookme.communications.templates import sms_text
from bookme.config import Settings

# How far before an attempt a provider's clock may place the message it created.
CLOCK_SKEW = timedelta(minutes=2)
_STATUSES = {
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


class BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending every request to `base_url` instead of *.twilio.com."""

    def __init__(self, base_url: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("twilio.com"):
            url = urlunsplit(
                (
                    self._base.scheme,
                    self._base.netloc,
                    self._base.path + parts.path,
                    parts.query,
                    "",
                )
            )
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


_local = threading.local()


def twilio_client(settings: Settings, *, timeout: float) -> Client:
    """One SDK client per thread (its requests.Session is not shared across threads)."""
    key = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_base,
        timeout,
    )
    cached = getattr(_local, "clients", None)
    if cached is None:
        cached = _local.clients = {}
    client = cached.get(key)
    if client is None:
        http = (
            BaseUrlHttpClient(settings.twilio_api_base, timeout=timeout)
            if settings.twilio_api_base
            else TwilioHttpClient(timeout=timeout)
        )
        client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
        cached[key] = client
    return client


def classify(exc: Exception) -> PermanentFailure | TemporaryFailure:
    """Twilio's answer or a network failure, as a failure we can act on."""
    if isinstance(exc, TwilioRestException):
        code = str(exc.code or exc.status)
        detail = exc.msg or f"HTTP {exc.status}"
        if exc.status == 429 or exc.code == 20429 or exc.status >= 500:
            return TemporaryFailure(code, detail)
        return PermanentFailure(code, detail)
    if isinstance(exc, requests.exceptions.ConnectTimeout) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and "NewConnectionError" in repr(exc.args)
    ):
        return TemporaryFailure("network", f"could not connect: {exc}")
    if isinstance(exc, requests.exceptions.RequestException):
        # The request may have been taken before the answer was lost.
        return TemporaryFailure("network", f"no answer: {exc}", maybe_sent=True)
    return TemporaryFailure("provider_error", f"{type(exc).__name__}: {exc}", maybe_sent=True)


class SmsChannel:
    provider = "twilio"
    prefix = ""

    def __init__(self, settings: Settings, *, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    def client(self) -> Client:
        return twilio_client(self.settings, timeout=self.timeout)

    def address(self, number: str) -> str:
        return f"{self.prefix}{number}"

    def create_params(self, message: Message) -> dict[str, object]:
        return {"body": sms_text(message.text)}

    def send(self, message: Message) -> Sent:
        params: dict[str, object] = {
            "to": self.address(message.to),
            "from_": self.address(message.sender or ""),
            **self.create_params(message),
        }
        if message.status_callback:
            params["status_callback"] = message.status_callback
        try:
            created = self.client().messages.create(**params)  # type: ignore[arg-type]
        except (TwilioException, requests.exceptions.RequestException, ValueError) as exc:
            raise classify(exc) from exc
        return Sent(provider_message_id=str(created.sid))

    def find_sent(self, message: Message, since: datetime) -> Sent | None:
        """The newest message to this recipient from our sender created since `since`."""
        expected = self.create_params(message).get("body")
        try:
            found = self.client().messages.list(
                to=self.address(message.to), from_=self.address(message.sender or ""), limit=50
            )
        except (TwilioException, requests.exceptions.RequestException, ValueError) as exc:
            raise classify(exc) from exc
        for item in found:
            created = item.date_created
            if created is not None and created < since - CLOCK_SKEW:
                continue
            if expected is not None and item.body not in (None, expected):
                continue
            return Sent(provider_message_id=str(item.sid))
        return None

    def fetch_status(self, provider_message_id: str) -> ProviderStatus | None:
        try:
            item = self.client().messages(provider_message_id).fetch()
        except (TwilioException, requests.exceptions.RequestException, ValueError):
            return None
        status = _STATUSES.get(str(item.status), "sent")
        error = str(item.error_code) if item.error_code else None
        return ProviderStatus(status=status, error=error, detail=item.error_message or None)
