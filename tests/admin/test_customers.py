"""Customers in the admin: search, detail with history and consents, create and edit, JSON
export and erasure with a confirmation page; what staff may not do is hidden and refused."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from bookme.core.db import session
from bookme.customers.models import ConsentEvent, Customer
from tests.admin.conftest import book
from tests.admin.html import Page
from tests.factories import use_tenant


def _customer(salon, customer_id) -> Customer:
    use_tenant(salon.tenant)
    found = session().get(Customer, uuid.UUID(str(customer_id)))
    session().refresh(found)
    return found


def test_search_finds_by_name_phone_or_email(signed_in, client, salon):
    book(
        client,
        salon,
        "2027-05-04 10:00",
        customer={"full_name": "Salma Bennani", "phone": "+212612345678"},
    )
    book(
        client,
        salon,
        "2027-05-04 11:00",
        customer={"full_name": "Youssef", "email": "y@example.com"},
    )
    browser = signed_in("staff")
    assert "Salma Bennani" in browser.page("/admin/customers?q=benn").text("customer-rows")
    assert "Salma Bennani" in browser.page("/admin/customers?q=612345678").text("customer-rows")
    found = browser.page("/admin/customers?q=y@example").text("customer-rows")
    assert "Youssef" in found and "Salma" not in found
    assert "Youssef" not in browser.page("/admin/customers?q=nobody").text("customer-rows")
    partial = browser.get("/admin/customers?q=benn", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "Salma Bennani" in partial.text


def test_the_detail_shows_history_and_consents(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    page = browser.page(f"/admin/customers/{created['customer_id']}")
    assert f"/admin/bookings/{created['id']}" in page.links()
    assert "consents-title" in page.ids
    assert "Not asked" in page.html or "Pas demandé" in page.html


def test_a_manager_creates_and_edits_a_customer_with_consents(signed_in, salon):
    browser = signed_in("manager")
    response = browser.submit(
        "/admin/customers/new", "customer-form", full_name="Karima", phone="0612121212",
        consent_sms="yes", consent_marketing="no", tags="VIP, fidèle",
    )  # fmt: skip
    assert response.status_code == 303
    customer_id = response.headers["Location"].rsplit("/", 1)[1]
    customer = _customer(salon, customer_id)
    assert customer.phone == "+212612121212"
    assert customer.consent_sms is True and customer.consent_marketing is False
    assert customer.consent_email is None
    assert customer.tags == ["VIP", "fidèle"]
    page = browser.page(f"/admin/customers/{customer_id}/edit")
    assert page.form("customer-form").data()["consent_sms"] == "yes"
    response = browser.send(page, "customer-form", consent_sms="no", notes="Préfère le matin")
    assert response.status_code == 303
    customer = _customer(salon, customer_id)
    assert customer.consent_sms is False and customer.notes == "Préfère le matin"
    use_tenant(salon.tenant)
    history = (
        session()
        .scalars(sa.select(ConsentEvent.source).where(ConsentEvent.customer_id == customer.id))
        .all()
    )
    assert history == ["staff", "staff", "staff"]


def test_an_invalid_customer_is_422_with_messages_by_field(signed_in, client, salon):
    existing = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("manager")
    response = browser.submit("/admin/customers/new", "customer-form", full_name="", phone="12")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.text("full_name-error")
    response = browser.submit(
        "/admin/customers/new", "customer-form", full_name="Other", phone="+212612345678"
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert page.text("phone-error")  # the phone belongs to another customer
    assert existing["customer_id"] in response.text


def test_the_export_is_a_json_download_of_everything_held(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    response = signed_in("manager").get(f"/admin/customers/{created['customer_id']}/export")
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.text)
    assert document["format"] == "bookme.customer-export/1"
    assert document["customer"]["full_name"] == "Salma Bennani"
    assert document["sections"]["bookings"][0]["id"] == created["id"]


def test_erasure_asks_first_then_erases(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    url = f"/admin/customers/{created['customer_id']}/erase"
    page = browser.page(url)
    assert "cannot be undone" in page.html or "irréversible" in page.html or "annul" in page.html
    assert _customer(salon, created["customer_id"]).erased_at is None  # the GET changed nothing
    response = browser.send(page, "erase-form")
    assert response.status_code == 303
    customer = _customer(salon, created["customer_id"])
    assert customer.erased_at is not None and customer.phone is None
    page = browser.page(f"/admin/customers/{created['customer_id']}")
    assert url not in page.links()  # nothing left to erase


def test_staff_read_customers_but_cannot_change_export_or_erase_them(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("staff")
    page = browser.page(f"/admin/customers/{created['customer_id']}")
    base = f"/admin/customers/{created['customer_id']}"
    for hidden in (f"{base}/edit", f"{base}/export", f"{base}/erase", "/admin/customers/new"):
        assert hidden not in page.links()
        browser.get(hidden, status=403)
    assert "/admin/customers/new" not in browser.page("/admin/customers").links()
    token = page.form("sign-out").data()["csrf_token"]
    assert browser.client.post(f"{base}/erase", data={"csrf_token": token}).status_code == 403
    assert _customer(salon, created["customer_id"]).erased_at is None
