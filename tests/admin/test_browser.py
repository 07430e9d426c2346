"""End to end in headless Chromium against a live server: sign in, switch business, see an API
booking on the day view, book through the form, bulk-cancel, export CSV, Arabic right to left,
and a customer cancelling on a phone. axe-core checks each main page; screenshots are kept.

The server sees committed data only: the businesses here are committed and dropped after.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import bookme
from tests.admin.conftest import WEEK, at
from tests.conftest import PASSWORD, access_token, make_user

pytestmark = pytest.mark.browser

AXE = Path(bookme.__file__).parent / "admin" / "static" / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


@dataclass
class World:
    owner_email: str
    token: str
    slug: str
    other_slug: str
    service_id: uuid.UUID
    nadia_id: uuid.UUID
    karim_id: uuid.UUID


@pytest.fixture
def world(app: Any, redis_client: Any) -> Iterator[World]:
    """Two committed businesses sharing an owner; Salon Atlas has a service, Nadia and Karim."""
    from bookme.core import tenancy
    from bookme.extensions import db
    from bookme.tenants.service import create_tenant
    from bookme.users.models import Membership
    from tests.factories import make_service, make_staff, use_tenant

    redis_client.flushdb()  # sign-in limits start afresh
    created: list[Any] = []
    users: list[Any] = []
    with app.app_context():
        try:
            owner = make_user(full_name="Nadia Owner")
            users.append(owner.id)
            atlas = create_tenant(
                slug=f"atlas-{uuid.uuid4().hex[:8]}", name="Salon Atlas", owner_id=owner.id
            )
            created.append(atlas)
            riad = create_tenant(
                slug=f"riad-{uuid.uuid4().hex[:8]}", name="Hammam Riad", owner_id=owner.id
            )
            created.append(riad)
            use_tenant(atlas.slug)
            service = make_service(
                name="Coupe", duration_minutes=30, price="80.00", slot_interval_minutes=30
            )
            nadia = make_staff(services=[service], hours=WEEK, display_name="Nadia")
            karim = make_staff(services=[service], hours=WEEK, display_name="Karim")
            world = World(
                owner_email=owner.email,
                token=access_token(owner),
                slug=atlas.slug,
                other_slug=riad.slug,
                service_id=service.id,
                nadia_id=nadia.id,
                karim_id=karim.id,
            )
            tenancy.activate(None)
            db.session.remove()
            yield world
        finally:
            tenancy.activate(None)
            db.session.remove()
            with db.engine.begin() as conn:
                for tenant in created:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
                    conn.execute(
                        sa.text("DELETE FROM public.tenants WHERE id = :id"), {"id": tenant.id}
                    )
                for user_id in users:
                    conn.execute(sa.delete(Membership).where(Membership.user_id == user_id))
                    conn.execute(
                        sa.text("DELETE FROM public.users WHERE id = :id"), {"id": user_id}
                    )


def api_booking(
    app: Any, world: World, local: str, staff_id: uuid.UUID, name: str
) -> dict[str, Any]:
    response = app.test_client().post(
        "/api/v1/bookings",
        json={
            "service_id": str(world.service_id),
            "staff_id": str(staff_id),
            "starts_at": at(local),
            "customer": {"full_name": name, "phone": f"+21261222{len(name):02d}{ord(name[0]):02d}"},
        },
        headers={"Authorization": f"Bearer {world.token}", "X-Tenant": world.slug},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def public_booking(app: Any, world: World, local: str, locale: str) -> dict[str, Any]:
    response = app.test_client().post(
        "/api/v1/public/bookings",
        json={
            "service_id": str(world.service_id),
            "staff_id": str(world.karim_id),
            "starts_at": at(local),
            "customer": {"full_name": "سلمى بناني", "phone": "+212699999999", "locale": locale},
        },
        headers={"X-Tenant": world.slug},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def axe(page: Any, name: str) -> None:
    """No serious or critical accessibility violation on the page as shown."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, (name, bad)


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"admin-{name}.png"), full_page=True)


def test_staff_run_their_day_in_the_admin(app, live_server, page, world, artifacts):
    api_booking(app, world, "2027-05-04 10:00", world.nadia_id, "Salma API")
    b1 = api_booking(app, world, "2027-05-05 10:00", world.nadia_id, "Omar Bulk")
    b2 = api_booking(app, world, "2027-05-05 11:00", world.karim_id, "Hind Bulk")

    # Sign in.
    page.goto(f"{live_server}/admin/login")
    axe(page, "login")
    page.fill("#email", world.owner_email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/")
    assert page.locator("html").get_attribute("lang") == "fr"

    # Switch to the other business and back.
    page.select_option("#switch-tenant-slug", world.other_slug)
    page.click("#switch-tenant button[type=submit]")
    page.wait_for_selector(".tenant-name:has-text('Hammam Riad')")
    page.select_option("#switch-tenant-slug", world.slug)
    page.click("#switch-tenant button[type=submit]")
    page.wait_for_selector(".tenant-name:has-text('Salon Atlas')")

    # The booking made through the API is on the day view.
    page.goto(f"{live_server}/admin/?date=2027-05-04")
    block = page.locator("a.cal-booking", has_text="Salma API")
    assert block.count() == 1
    assert "Confirmée" in block.inner_text()
    shot(page, artifacts, "day")
    axe(page, "day")
    page.goto(f"{live_server}/admin/week?staff_id={world.nadia_id}&date=2027-05-04")
    axe(page, "week")

    # Book through the form: service → staff → day (htmx refreshes the picker) → time.
    page.goto(f"{live_server}/admin/bookings/new")
    page.select_option("#pick-service", str(world.service_id))
    page.wait_for_selector("#pick-staff:not([disabled])")
    page.select_option("#pick-staff", str(world.karim_id))
    page.wait_for_function(
        "document.querySelector('#pick-staff').value !== ''"
        " && document.querySelector('#booking-form input[name=staff_id]').value !== ''"
    )
    page.fill("#pick-date", "2027-05-06")
    page.dispatch_event("#pick-date", "change")
    page.wait_for_selector("legend:has-text('jeudi 6 mai 2027')")
    shot(page, artifacts, "new-booking")
    axe(page, "new booking")
    page.check(f"#booking-form input[value='{at('2027-05-06 14:00')}']")
    page.fill("#full_name", "Karima Form")
    page.fill("#phone", "0612000001")
    page.click("#booking-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Karima Form')")
    assert "14:00" in page.locator("dl.facts").inner_text()
    shot(page, artifacts, "booking")
    axe(page, "booking detail")

    # Bulk-cancel two bookings, with the confirmation page.
    page.goto(f"{live_server}/admin/bookings?from=2027-05-05&to=2027-05-05")
    shot(page, artifacts, "bookings")
    axe(page, "bookings")
    page.check(f"input[name=ids][value='{b1['id']}']")
    page.check(f"input[name=ids][value='{b2['id']}']")
    page.select_option("#bulk-action", "cancel")
    page.click("#bulk-form button[type=submit]")
    page.wait_for_selector("#bulk-cancel-form")
    axe(page, "bulk confirmation")
    page.fill("#reason", "Fermeture exceptionnelle")
    page.click("#bulk-cancel-form button[type=submit]")
    page.wait_for_selector("ul.results")
    assert page.locator("ul.results li.done").count() == 2
    shot(page, artifacts, "bulk-result")

    # Export exactly the filtered list as CSV.
    page.goto(f"{live_server}/admin/bookings?from=2027-05-05&to=2027-05-05&status=cancelled")
    with page.expect_download() as download_info:
        page.click("a[download]")
    data = Path(download_info.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r[6] for r in rows[1:]] == ["Omar Bulk", "Hind Bulk"]
    assert {r[3] for r in rows[1:]} == {"Annulée"}

    # The other main pages pass axe too.
    for path in ("/admin/customers", "/admin/services", f"/admin/staff/{world.nadia_id}/hours",
                 "/admin/settings", "/admin/closures", "/admin/notifications"):  # fmt: skip
        page.goto(live_server + path)
        axe(page, path)

    # Arabic: right to left, the calendar mirrored.
    page.goto(f"{live_server}/admin/?date=2027-05-04")
    page.click("#language button[value=ar]")
    page.wait_for_selector("html[dir=rtl]", state="attached")
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    hours = page.locator(".cal-hour").first.bounding_box()
    column = page.locator(".cal-head").first.bounding_box()
    assert hours["x"] > column["x"]  # the time scale sits on the right in Arabic
    shot(page, artifacts, "day-ar")
    axe(page, "day in Arabic")

    hosts = {r.split("/")[2] for r in page.requests if r.startswith("http")}
    assert hosts == {live_server.split("/")[2]}  # nothing loaded from anywhere else


def test_a_customer_cancels_on_a_phone(app, live_server, browser, world, artifacts):
    created = public_booking(app, world, "2027-05-06 15:00", locale="ar")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/m/{created['manage_token']}")
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(artifacts / "manage-phone.png"), full_page=True)
        axe(page, "manage page")
        page.click(f"a[href^='/m/{created['manage_token']}/cancel']")
        page.wait_for_selector("#manage-cancel")
        axe(page, "manage cancel")
        page.click("#manage-cancel button[type=submit]")
        page.wait_for_selector("p.flash[role=status]")
        assert "تم إلغاء حجزك" in page.inner_text("main")
        page.screenshot(path=str(artifacts / "manage-phone-cancelled.png"), full_page=True)
        cookies = context.cookies()
        assert cookies == []  # no account, no tracking
    finally:
        context.close()
    status = app.test_client().get(f"/api/v1/public/bookings/{created['manage_token']}").get_json()
    assert status["status"] == "cancelled"
