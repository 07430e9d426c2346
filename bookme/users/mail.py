"""Account emails (verification, password reset) and their delivery over SMTP.

They are written in French, Arabic (right to left) or English: the language of the request
that caused them, which the link passes on (`&lang=`) to the account page it opens.

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

from babel import Locale, support
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
# Every word comes from the pages' gettext catalogs (`bookme.admin.i18n`), in the language of the
# request that caused the email, passed explicitly: the job that sends it has no request.


def _catalog(language: str) -> support.Translations:
    # Imported here, not at the top: bookme.admin's package imports its views, which import the
    # account use cases (bookme.users.service, .routes) that import this module.
    from bookme.admin import i18n

    return i18n.catalog(language)


_text = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)  # noqa: S701 - plain text part
_html = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)

_HTML_LAYOUT = """<!doctype html>
<html lang="{{ language }}" dir="{{ direction }}">
<head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<p>{{ greeting }}</p>
<p>{{ intro }}</p>
<p><a href="{{ link }}">{{ action }}</a></p>
<p>{{ copy_address }}<br><span dir="ltr">{{ link }}</span></p>
<p>{{ expiry }} {{ ignore }}</p>
<p>BookMe</p>
</body></html>
"""

_TEXT_LAYOUT = """{{ greeting }}

{{ intro }}

{{ action }}: {{ link }}

{{ expiry }} {{ ignore }}

BookMe
"""


def _render(
    translations: support.Translations, language: str, to: str, *, name: str, **context: str
) -> OutgoingEmail:
    _ = translations.gettext
    context.update(
        language=language,
        direction="rtl" if Locale.parse(language).text_direction == "rtl" else "ltr",
        greeting=_("Hello %(name)s,") % {"name": name},
        copy_address=_("If the button does not work, copy this address into your browser:"),
    )
    return OutgoingEmail(
        to=to,
        subject=context["subject"],
        text=_text.from_string(_TEXT_LAYOUT).render(**context),
        html=_html.from_string(_HTML_LAYOUT).render(**context),
    )


def verification_email(
    *, to: str, name: str, link: str, valid_hours: int, language: str
) -> OutgoingEmail:
    t = _catalog(language)
    return _render(
        t,
        language,
        to,
        name=name,
        link=link,
        subject=t.gettext("Confirm your email address"),
        intro=t.gettext("Please confirm that this is your email address for your BookMe account."),
        action=t.gettext("Confirm my email address"),
        expiry=t.ngettext(
            "The link works once and expires in %(num)d hour.",
            "The link works once and expires in %(num)d hours.",
            valid_hours,
        )
        % {"num": valid_hours},
        ignore=t.gettext("If you did not create an account, ignore this message."),
    )


def password_reset_email(
    *, to: str, name: str, link: str, valid_minutes: int, language: str
) -> OutgoingEmail:
    t = _catalog(language)
    return _render(
        t,
        language,
        to,
        name=name,
        link=link,
        subject=t.gettext("Reset your BookMe password"),
        intro=t.gettext(
            "Someone (hopefully you) asked to reset the password of your BookMe account."
        ),
        action=t.gettext("Choose a new password"),
        expiry=t.ngettext(
            "The link works once and expires in %(num)d minute.",
            "The link works once and expires in %(num)d minutes.",
            valid_minutes,
        )
        % {"num": valid_minutes},
        ignore=t.gettext(
            "If you did not ask for it, ignore this message: your password stays as it is."
        ),
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
