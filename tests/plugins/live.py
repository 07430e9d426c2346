"""The API as a tenant's member: through the test client, or against a live server process.

- `MemberApi` (and `SalonApi`, on a salon fixture): the HTTP API as one member of one tenant,
  its owner unless `as_(member)` says otherwise. Suites subclass them with their own calls.
- `Salon`, `make_salon`: the salon the bookings and conformance suites book into.
- `committed_tenant`, `serving`, `race`: races against a real gunicorn (tests/bookings/live.py).
  The server is another process, so it sees only what is committed: the tenant is committed
  for real and dropped afterwards, and the racing threads are released together.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import requests
from flask import Flask

from tests.bookings.live import CommittedTenant, drop_tenant, server

T = TypeVar("T")
WEEK = {day: [("09:00", "13:00"), ("14:00", "18:00")] for day in range(1, 8)}


class MemberApi:
    """The HTTP API as one member of one tenant (the owner while `member` is None)."""

    def __init__(self, client: Any, tenant: Any, member: Any = None) -> None:
        self.client = client
        self.tenant = tenant
        self.member = member

    def as_(self, member: Any) -> Self:
        """The same caller as someone else: a copy, so a subclass keeps what it added."""
        other = copy.copy(self)
        other.member = member
        return other

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers(self.member)


class SalonApi(MemberApi):
    """A `MemberApi` on a salon fixture's tenant that keeps the salon for the suite's calls."""

    def __init__(self, client: Any, salon: Any, member: Any = None) -> None:
        super().__init__(client, salon.tenant, member)
        self.salon = salon


@dataclass
class Salon:
    """A tenant with one 30-minute service on a 30-minute grid and two staff, every day."""

    tenant: Any
    service: Any
    nadia: Any
    karim: Any


def make_salon(tenant: Any) -> Salon:
    """`Salon` in `tenant`, on the clock of the caller (bookings and conformance freeze it)."""
    from tests.factories import make_service, make_staff, use_tenant

    use_tenant(tenant)
    service = make_service(
        name="Coupe",
        duration_minutes=30,
        price="80.00",
        slot_interval_minutes=30,
        min_notice_minutes=60,
        max_advance_days=60,
    )
    nadia = make_staff(services=[service], hours=WEEK, display_name="Nadia")
    karim = make_staff(services=[service], hours=WEEK, display_name="Karim")
    return Salon(tenant, service, nadia, karim)


@contextmanager
def committed_tenant(
    app: Flask, *, slug_prefix: str, name: str, owner_name: str
) -> Iterator[CommittedTenant]:
    """A tenant on UTC and its owner, committed for real and current for the factories.

    Everything it leaves is dropped on the way out, whatever happened: the test database
    outlives the session, and committed rows would show up in other tests' lists.
    """
    from bookme.core import tenancy
    from bookme.extensions import db
    from bookme.tenants.service import create_tenant
    from tests.conftest import access_token, make_user
    from tests.factories import use_tenant

    with app.app_context():
        owner = make_user(full_name=owner_name)
        slug = f"{slug_prefix}-{uuid.uuid4().hex[:10]}"
        created = create_tenant(slug=slug, name=name, timezone="UTC", owner_id=owner.id)
        tenant = CommittedTenant(
            created.id, slug, created.schema_name, owner.id, access_token(owner)
        )
        try:
            use_tenant(slug)
            yield tenant
        finally:
            tenancy.activate(None)
            db.session.remove()
            drop_tenant(db.engine, tenant)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """What is committed so far, served by gunicorn (`server`); yields its base URL.

    This process drops its current tenant and its session first: the tests that follow read
    the database here on fresh connections, not through what building the catalog left open.
    """
    from bookme.core import tenancy
    from bookme.extensions import db

    tenancy.activate(None)
    db.session.remove()
    with server(app.config["BOOKME"]) as base:
        yield base


class _Unfinished:
    """What a racing thread's slot holds until `send` returns or raises."""

    def __repr__(self) -> str:
        return "<did not finish>"


def race(count: int, send: Callable[[int, requests.Session], T]) -> list[T]:
    """Run `send(index, session)` on `count` threads released together.

    Each thread has its own `requests.Session`, hence its own connections, so the server
    really has `count` requests at once. A thread that raised, or had not finished after two
    minutes, fails the race: a lost answer must not pass for a refused one.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [_Unfinished()] * count

    def run(index: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            try:
                results[index] = send(index, http)
            except Exception as exc:
                results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [r for r in results if isinstance(r, _Unfinished | Exception)]
    assert not failures, failures
    return results
