"""Admin test helpers: a small salon with a member of each role, and a browser-like client that
signs in and submits forms the way a person does (the CSRF token read from the page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bookme.core import clock
from tests.admin.html import Page
from tests.conftest import PASSWORD, Member, add_member
from tests.factories import make_service, make_staff, use_tenant

# Monday 3 May 2027, 09:00 in Casablanca (UTC+1).
NOW = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
WEEK = {day: [("09:00", "13:00"), ("14:00", "18:00")] for day in range(1, 8)}
ROLES = ("owner", "manager", "staff")


def at(local: str) -> str:
    """`"2027-05-04 10:00"` (Casablanca) as RFC 3339."""
    day, time = local.split()
    return f"{day}T{time}:00+01:00"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.frozen(NOW):
        yield


class Browser:
    """The Flask test client as a person at a browser: follows forms by id, keeps the cookie."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.last: Any = None

    def get(self, url: str, status: int | None = 200, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        if status is not None:
            assert response.status_code == status, (url, response.status_code, response.text[:2000])
        self.last = response
        return response

    def page(self, url: str, status: int | None = 200, **kwargs: Any) -> Page:
        return Page(self.get(url, status=status, **kwargs).text)

    def submit(self, url: str, form_id: str, status: int | None = None, **changes: Any) -> Any:
        """GET `url`, fill the form `form_id` with `changes` and send it as the browser would."""
        page = self.page(url)
        return self.send(page, form_id, status=status, **changes)

    def send(self, page: Page, form_id: str, status: int | None = None, **changes: Any) -> Any:
        form = page.form(form_id)
        data = form.data(**changes)
        if form.method == "post":
            response = self.client.post(form.action, data=data)
        else:
            response = self.client.get(form.action, query_string=data)
        if status is not None:
            assert response.status_code == status, (response.status_code, response.text[:3000])
        self.last = response
        return response

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.submit("/admin/login", "login-form", email=email, password=password)
        assert response.status_code == 303, response.text[:2000]
        return response


@dataclass
class Salon:
    tenant: Any
    service: Any
    nadia: Any  # linked to the `staff` member's account
    karim: Any
    members: dict[str, Member]

    def member(self, role: str) -> Member:
        return self.members[role]


@pytest.fixture
def salon(tenant: Any) -> Salon:
    from bookme.core.db import session

    use_tenant(tenant)
    service = make_service(
        name="Coupe", duration_minutes=30, price="80.00", slot_interval_minutes=30,
        min_notice_minutes=60, max_advance_days=60,
    )  # fmt: skip
    staff_member = add_member(tenant, "staff")
    manager = add_member(tenant, "manager")
    nadia = make_staff(services=[service], hours=WEEK, display_name="Nadia")
    nadia.user_id = staff_member.user_id
    session().commit()
    karim = make_staff(services=[service], hours=WEEK, display_name="Karim")
    return Salon(
        tenant=tenant,
        service=service,
        nadia=nadia,
        karim=karim,
        members={"owner": tenant.owner, "manager": manager, "staff": staff_member},
    )


@pytest.fixture
def visitor(client: Any) -> Browser:
    """Someone at the admin, not signed in yet (`browser` is Playwright's Chromium)."""
    return Browser(client)


@pytest.fixture
def signed_in(client: Any, salon: Salon) -> Any:
    """`signed_in(role)`: a Browser signed in as the salon's member with that role."""

    def sign_in(role: str = "owner") -> Browser:
        browser = Browser(client)
        browser.login(salon.member(role).email)
        return browser

    return sign_in


def book(client: Any, salon: Salon, local: str, staff: Any = None, **extra: Any) -> dict[str, Any]:
    """A booking made through the API (as the owner)."""
    body = {
        "service_id": str(salon.service.id),
        "staff_id": str((staff or salon.nadia).id),
        "starts_at": at(local),
        "customer": extra.pop("customer", {"full_name": "Salma Bennani", "phone": "+212612345678"}),
        **extra,
    }
    response = client.post("/api/v1/bookings", json=body, headers=salon.tenant.headers())
    assert response.status_code == 201, response.get_json()
    return response.get_json()
