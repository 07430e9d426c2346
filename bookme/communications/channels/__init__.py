"""Channels behind one interface: which provider sends a channel's messages, if any."""

from __future__ import annotations

from bookme.communications.channels.base import (
    Channel,
    Message,
    PermanentFailure,
    ProviderStatus,
    SendFailed,
    Sent,
    TemporaryFailure,
)
from bookme.config import Settings

__all__ = [
    "Channel", "Message", "PermanentFailure", "ProviderStatus", "SendFailed", "Sent",
    "TemporaryFailure", "channel_for", "default_sender", "is_configured", "usable",
]  # fmt: skip


def is_configured(channel: str, settings: Settings, sender: str | None = None) -> bool:
    """Whether the platform has what `channel` needs (a tenant's own sender counts)."""
    if channel == "email":
        return bool(settings.smtp_host)
    twilio = bool(settings.twilio_account_sid and settings.twilio_auth_token)
    if channel == "sms":
        return twilio and bool(sender or settings.twilio_sms_from)
    if channel == "whatsapp":
        return twilio and bool(sender or settings.twilio_whatsapp_from)
    raise ValueError(channel)


def usable(channel: str, settings: Settings, sender: str | None = None) -> bool:
    """Configured, or logged to the console outside production."""
    return not settings.is_production or is_configured(channel, settings, sender)


def channel_for(channel: str, settings: Settings, sender: str | None = None) -> Channel | None:
    """The provider for `channel`; the console when it has no settings outside production;
    None in production when it is not configured."""
    timeout = settings.notify_send_timeout_seconds
    if not is_configured(channel, settings, sender):
        if settings.is_production:
            return None
        from bookme.communications.channels.console import ConsoleChannel

        return ConsoleChannel()
    if channel == "email":
        from bookme.communications.channels.email import EmailChannel

        return EmailChannel(settings, timeout=timeout)
    if channel == "sms":
        from bookme.communications.channels.sms import SmsChannel

        return SmsChannel(settings, timeout=timeout)
    from bookme.communications.channels.whatsapp import WhatsAppChannel

    return WhatsAppChannel(settings, timeout=timeout)


def default_sender(channel: str, settings: Settings) -> str | None:
    if channel == "sms":
        return settings.twilio_sms_from
    if channel == "whatsapp":
        return settings.twilio_whatsapp_from
    return None
