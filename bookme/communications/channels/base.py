"""The one small interface every channel implements, and the outcomes a send can have."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """A rendered notification, ready for a provider."""

    notification_id: uuid.UUID
    channel: str
    to: str  # without a channel prefix: "+212612345678", "salma@example.com"
    sender: str | None
    text: str
    subject: str | None = None
    html: str | None = None
    content_sid: str | None = None  # WhatsApp outside the 24-hour window
    content_variables: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None
    sender_name: str | None = None  # email display name
    locale: str = "fr"


@dataclass(frozen=True)
class Sent:
    provider_message_id: str


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's view of a sent message: one of sent, delivered, read, failed."""

    status: str
    error: str | None = None
    detail: str | None = None


class SendFailed(Exception):
    """The provider did not take the message; `code` is its error code (or ours). `called`
    False: the provider was never called (the message could not be built), not an attempt."""

    def __init__(self, code: str, detail: str, *, called: bool = True) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail[:500]
        self.called = called


class PermanentFailure(SendFailed):
    """Sending again will not help (an invalid number, an opted-out recipient)."""


class TemporaryFailure(SendFailed):
    """Worth retrying later. `maybe_sent`: the request may have reached the provider (a read
    timeout, a dropped connection), so the next attempt looks the message up first."""

    def __init__(self, code: str, detail: str, *, maybe_sent: bool = False) -> None:
        super().__init__(code, detail)
        self.maybe_sent = maybe_sent


class Channel(Protocol):
    provider: str

    def send(self, message: Message) -> Sent:
        """Hand the message to the provider once; raise PermanentFailure/TemporaryFailure."""

    def find_sent(self, message: Message, since: datetime) -> Sent | None:
        """A message this notification already got the provider to take since `since`
        (reconciling an attempt whose outcome was lost), or None."""

    def fetch_status(self, provider_message_id: str) -> ProviderStatus | None:
        """The provider's current delivery status, or None when it cannot tell."""
