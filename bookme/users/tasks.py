"""Background work for accounts: sending their emails, forgetting expired tokens."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from rq import Retry

from bookme.core import clock, periodic
from bookme.core.db import session, transactional
from bookme.core.tasks import enqueue_after_commit, job
from bookme.users import mail, tokens
from bookme.users.models import OneTimeToken

log = logging.getLogger("bookme.users.tasks")

# SMTP servers fail temporarily (greylisting, restarts): retry for about 40 minutes.
MAIL_RETRY = Retry(max=5, interval=[30, 120, 300, 600, 1200])


@job
def send_email(*, to: str, subject: str, text: str, html: str) -> None:
    """Send one rendered message. Takes everything as arguments: no database read."""
    mail.send(mail.OutgoingEmail(to=to, subject=subject, text=text, html=html),
              current_app.config["BOOKME"])  # fmt: skip


def send_email_after_commit(email: mail.OutgoingEmail) -> None:
    """Queue `email` once the current unit of work commits (never from the web request)."""
    enqueue_after_commit(send_email, retry=MAIL_RETRY, **email.as_job_kwargs())


@job
def purge_expired_tokens() -> dict[str, int]:
    """Periodic cleanup: revocations, refresh records and one-time tokens past their expiry."""
    return _purge(at=clock.now())


@transactional
def _purge(*, at: datetime) -> dict[str, int]:
    counts = tokens.purge_expired(at)
    result = session().execute(sa.delete(OneTimeToken).where(OneTimeToken.expires_at < at))
    counts["one_time_tokens"] = result.rowcount or 0
    log.info("purged expired tokens %s", counts)
    return counts


periodic.register("users.purge_expired_tokens", 3600, purge_expired_tokens)
