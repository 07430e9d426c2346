"""Roles as in API.md, page by page: what a role may not do is absent from the pages it sees
and refused (403) when asked for directly."""

from __future__ import annotations

import pytest

from tests.admin.conftest import book

# page → the roles that may open it (the others get 403)
EVERYONE = {"owner", "manager", "staff"}
MANAGERS = {"owner", "manager"}
PAGES = {
    "/admin/": EVERYONE,
    "/admin/week": EVERYONE,
    "/admin/bookings": EVERYONE,
    "/admin/bookings/new": EVERYONE,
    "/admin/bookings.csv": EVERYONE,
    "/admin/customers": EVERYONE,
    "/admin/customers/new": MANAGERS,
    "/admin/services": EVERYONE,
    "/admin/services/new": MANAGERS,
    "/admin/categories": EVERYONE,
    "/admin/categories/new": MANAGERS,
    "/admin/staff": EVERYONE,
    "/admin/staff/new": MANAGERS,
    "/admin/closures": EVERYONE,
    "/admin/settings": EVERYONE,
    "/admin/members": {"owner"},
    "/admin/notifications": MANAGERS,
    "/admin/templates": MANAGERS,
    "/admin/payment-settings": MANAGERS,
}
# where each page is linked from (navigation, tabs, toolbars)
LINKED_FROM = {
    "/admin/customers/new": "/admin/customers",
    "/admin/services/new": "/admin/services",
    "/admin/categories/new": "/admin/categories",
    "/admin/staff/new": "/admin/staff",
    "/admin/members": "/admin/settings",
    "/admin/notifications": "/admin/settings",
    "/admin/templates": "/admin/settings",
    "/admin/payment-settings": "/admin/settings",
}


@pytest.mark.parametrize("role", ["owner", "manager", "staff"])
def test_each_role_opens_its_pages_and_is_refused_the_others(signed_in, role):
    browser = signed_in(role)
    for url, allowed in PAGES.items():
        expected = 200 if role in allowed else 403
        assert browser.get(url, status=None).status_code == expected, (role, url)


@pytest.mark.parametrize("role", ["owner", "manager", "staff"])
def test_a_page_a_role_may_not_open_is_not_linked_for_it(signed_in, role):
    browser = signed_in(role)
    for url, source in LINKED_FROM.items():
        linked = url in browser.page(source).links()
        assert linked == (role in PAGES[url]), (role, url, source)


def test_booking_controls_follow_who_may_change_the_booking(signed_in, client, salon):
    nadias = book(client, salon, "2027-05-04 10:00")
    karims = book(client, salon, "2027-05-04 10:00", staff=salon.karim)
    expectations = {
        "owner": {nadias["id"]: True, karims["id"]: True},
        "manager": {nadias["id"]: True, karims["id"]: True},
        "staff": {nadias["id"]: True, karims["id"]: False},  # Nadia is the staff member
    }
    for role, bookings in expectations.items():
        browser = signed_in(role)
        for booking_id, may in bookings.items():
            page = browser.page(f"/admin/bookings/{booking_id}")
            assert page.has_form("booking-complete") == may, (role, booking_id)
            assert (f"/admin/bookings/{booking_id}/cancel" in page.links()) == may
            status = browser.get(
                f"/admin/bookings/{booking_id}/reschedule", status=None
            ).status_code
            assert status == (200 if may else 403), (role, booking_id)
