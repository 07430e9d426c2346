"""One SMTP delivery path for every module (stdlib smtplib), configured by the SMTP_* settings."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from bookme.config import Settings


def tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS for `SMTP_TLS=starttls|ssl` (tests may swap in their own CA)."""
    return ssl.create_default_context()


def connect(settings: Settings, *, timeout: float) -> smtplib.SMTP:
    """An SMTP session, greeted, upgraded to TLS and logged in as the settings say."""
    if not settings.smtp_host:
        raise RuntimeError("SMTP_HOST is not set")
    client: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        client = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=tls_context()
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        client.ehlo()
        if settings.smtp_tls == "starttls":
            client.starttls(context=tls_context())
            client.ehlo()
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
    except BaseException:
        client.close()
        raise
    return client


def send_message(message: EmailMessage, settings: Settings, *, timeout: float = 30) -> None:
    """Deliver one message in its own session; smtplib's exceptions reach the caller."""
    with connect(settings, timeout=timeout) as client:
        client.send_message(message)
