"""Account emails (verification, password reset) and their delivery over SMTP.

Messages are rendered in the web process (no DB read is left for the job) and sent by an
RQ job through `bookme.core.mail` (stdlib `smtplib`). Without `SMTP_HOST`, development and
tests log the message instead; production refuses, so a missing setting shows up as failed
jobs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from jinja2 import Environment, StrictUndefined

from bookme.config import Settings
from bookme.core import mail as core_mail

log = logging.getLogger("bookme.mail")

SMTP_TIMEOUT_SECONDS = 30


class MailNotConfigured(RuntimeError):
    """Production has no SMTP_HOST: the message cannot be sent."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str

    def as_job_kwargs(self) -> dict[str, str]:
        return asdict(self)


# --- rendering ----------------------------------------------------------------------------------

_text = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701 - plain text part
_html = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)

_HTML_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<p>Hello {{ name }},</p>
<p>{{ intro }}</p>
<p><a href="{{ link }}">{{ action }}</a></p>
<p>If the button does not work, copy this address into your browser:<br>{{ link }}</p>
<p>{{ outro }}</p>
<p>BookMe</p>
</body></html>
"""

_TEXT_LAYOUT = """Hello {{ name }},

{{ intro }}

{{ action }}: {{ link }}

{{ outro }}

BookMe
"""


def _render(to: str, subject: str, **context: Any) -> OutgoingEmail:
    context["subject"] = subject
    return OutgoingEmail(
        to=to,
        subject=subject,
        text=_text.from_string(_TEXT_LAYOUT).render(**context),
        html=_html.from_string(_HTML_LAYOUT).render(**context),
    )


def verification_email(*, to: str, name: str, link: str, valid_hours: int) -> OutgoingEmail:
    return _render(
        to,
        "Confirm your email address",
        name=name,
        intro="Please confirm that this is your email address for your BookMe account.",
        action="Confirm my email address",
        link=link,
        outro=f"The link works once and expires in {valid_hours} hours. "
        "If you did not create an account, ignore this message.",
    )


def password_reset_email(*, to: str, name: str, link: str, valid_minutes: int) -> OutgoingEmail:
    return _render(
        to,
        "Reset your BookMe password",
        name=name,
        intro="Someone (hopefully you) asked to reset the password of your BookMe account.",
        action="Choose a new password",
        link=link,
        outro=f"The link works once and expires in {valid_minutes} minutes. "
        "If you did not ask for it, ignore this message: your password stays as it is.",
    )


# --- delivery -----------------------------------------------------------------------------------


def build_message(email: OutgoingEmail, sender: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML as the richer part."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def send(email: OutgoingEmail, settings: Settings) -> None:
    """Deliver one message, or log it when SMTP is not configured outside production."""
    message = build_message(email, settings.mail_from)
    if not settings.smtp_host:
        if settings.is_production:
            raise MailNotConfigured("SMTP_HOST is not set; email cannot be sent")
        log.info(
            "email (SMTP_HOST unset, not sent) to=%s subject=%s\n%s",
            email.to,
            email.subject,
            email.text,
        )
        return
    core_mail.send_message(message, settings, timeout=SMTP_TIMEOUT_SECONDS)
    log.info("email sent to=%s subject=%s", email.to, email.subject)
