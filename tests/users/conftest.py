"""Helpers for account tests: HTTP shortcuts and running queued jobs with a real worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD
from tests.conftest import make_user as _make_user

API = "/api/v1"


def make_user(*args: Any, **kwargs: Any) -> Any:
    """conftest's make_user, committed (a released savepoint), so that a request that fails
    and rolls back its own unit of work does not take the test's user with it."""
    from bookme.core.db import session

    user = _make_user(*args, **kwargs)
    session().commit()
    return user


def post(
    client: FlaskClient, path: str, json: Any = None, address: str = "10.0.0.1", **kwargs: Any
) -> Any:
    return client.post(API + path, json=json, environ_base={"REMOTE_ADDR": address}, **kwargs)


def login(
    client: FlaskClient, email: str, password: str = PASSWORD, address: str = "10.0.0.1"
) -> Any:
    return post(client, "/auth/login", {"email": email, "password": password}, address=address)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def opens_in(client: FlaskClient, received: Any, path: str, language: str) -> Any:
    """Check that an account email is written in `language` and that its link opens the account
    page `path` in the same language; the page's response."""
    direction = "rtl" if language == "ar" else "ltr"
    tag = f'<html lang="{language}" dir="{direction}">'
    assert tag in received.html
    link = rf"http://bookme\.test({re.escape(path)}\?token=[A-Za-z0-9_-]+&lang={language})\s"
    match = re.search(link, received.text)
    assert match, received.text
    page = client.get(match.group(1))
    assert page.status_code == 200
    assert tag in page.text
    return page


@pytest.fixture
def run_jobs(app: Flask, db: Any) -> Callable[..., list[Any]]:
    """Run every queued RQ job with a real SimpleWorker (in this process, burst mode).

    The jobs see the test's app and settings. Jobs run on the test's DB session, so only
    jobs that need no uncommitted test data belong here (mail jobs read nothing).
    """
    from rq import Queue, SimpleWorker

    def run(expect_failures: bool = False) -> list[Any]:
        redis = app.extensions["bookme.redis"]
        queue = Queue(app.config["BOOKME"].rq_queue, connection=redis)
        ids = list(queue.job_ids)
        SimpleWorker([queue], connection=redis).work(burst=True)
        jobs = [queue.fetch_job(job_id) for job_id in ids]
        if not expect_failures:
            failed = [job.id for job in jobs if job is None or job.is_failed]
            assert not failed, f"jobs failed: {failed}"
        return jobs

    return run
