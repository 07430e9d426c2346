"""Email over SMTP: plain text and HTML parts, a Message-ID derived from the notification.

There is no lookup for email, so an attempt whose outcome was lost is simply sent again
with the same Message-ID, which mail stores and clients use to recognise a duplicate.
"""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from bookme.communications.channels.base import (
    Message,
    PermanentFailure,
    ProviderStatus,
    Sent,
    TemporaryFailure,
)
from bookme.communications.templates import one_line
from bookme.config import Settings
from bookme.core import mail

INVALID_MESSAGE = "invalid_message"  # BookMe's error code: a message no retry can send


def message_id(notification_id_hex: str, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "bookme.localhost"
    return f"<{notification_id_hex}@{domain}>"


class EmailChannel:
    provider = "smtp"

    def __init__(self, settings: Settings, *, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        name, address = parseaddr(self.settings.mail_from)
        email = EmailMessage()
        # Header values built from data go on one line: a line break would be refused (or,
        # unchecked, start another header).
        email["From"] = formataddr((one_line(message.sender_name or name), address))
        email["To"] = one_line(message.to)
        email["Subject"] = one_line(message.subject or "")
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = message_id(message.notification_id.hex, self.settings.mail_from)
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        email["Content-Language"] = message.locale  # after the parts: set_content clears Content-*
        return email

    def send(self, message: Message) -> Sent:
        # A ValueError is ours (the message or how it is handed to smtplib), not the server's:
        # sending the same message again cannot help, so it fails now rather than retrying.
        try:
            email = self.build(message)
        except ValueError as exc:
            raise PermanentFailure(
                INVALID_MESSAGE, f"The email could not be built: {exc}", called=False
            ) from exc
        try:
            mail.send_message(email, self.settings, timeout=self.timeout)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _failure(code, reply) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _failure(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPResponseException as exc:
            raise _failure(exc.smtp_code, exc.smtp_error) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure("smtp_unavailable", str(exc) or type(exc).__name__) from exc
        except ValueError as exc:
            raise PermanentFailure(
                INVALID_MESSAGE, f"The email could not be sent: {type(exc).__name__}: {exc}"
            ) from exc
        return Sent(provider_message_id=email["Message-ID"].strip("<>"))

    def find_sent(self, message: Message, since: datetime) -> Sent | None:
        return None  # resend with the same Message-ID

    def fetch_status(self, provider_message_id: str) -> ProviderStatus | None:
        return None


def _failure(code: int, reply: bytes | str) -> PermanentFailure | TemporaryFailure:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    if 400 <= code < 500:
        return TemporaryFailure(str(code), text)
    return PermanentFailure(str(code), text)
