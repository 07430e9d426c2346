"""Development stand-in: messages are logged, never sent (provider `console`)."""

from __future__ import annotations

import logging
from datetime import datetime

from bookme.communications.channels.base import Message, ProviderStatus, Sent

log = logging.getLogger("bookme.notifications.console")


class ConsoleChannel:
    provider = "console"

    def send(self, message: Message) -> Sent:
        log.info(
            "notification %s via %s (console, not sent) to=%s%s\n%s",
            message.notification_id,
            message.channel,
            message.to,
            f" subject={message.subject!r}" if message.subject else "",
            message.text,
        )
        return Sent(provider_message_id=f"console-{message.notification_id.hex}")

    def find_sent(self, message: Message, since: datetime) -> Sent | None:
        return None  # logging again is harmless

    def fetch_status(self, provider_message_id: str) -> ProviderStatus | None:
        return None
