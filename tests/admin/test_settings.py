"""Settings in the admin: the business (owners), members (owners), notifications and message
templates with a preview (owners and managers), payments (owners and managers)."""

from __future__ import annotations

import sqlalchemy as sa

from bookme.core.db import session
from bookme.tenants.models import Tenant
from bookme.users.models import Membership
from tests.admin.html import Page
from tests.conftest import make_user


def test_an_owner_changes_the_business_and_its_cutoff(signed_in, salon):
    browser = signed_in("owner")
    response = browser.submit(
        "/admin/settings", "tenant-form", name="Salon Nadia", cancellation_cutoff_hours="6"
    )
    assert response.status_code == 303
    tenant = session().scalar(sa.select(Tenant).where(Tenant.id == salon.tenant.id))
    session().refresh(tenant)
    assert tenant.name == "Salon Nadia" and tenant.settings["cancellation_cutoff_hours"] == 6


def test_invalid_business_settings_are_422_by_field(signed_in, salon):
    response = signed_in("owner").submit(
        "/admin/settings", "tenant-form", timezone="Mars/Olympus", cancellation_cutoff_hours="9999"
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert page.text("timezone-error")
    assert page.text("cancellation_cutoff_hours-error")


def test_managers_and_staff_read_the_settings_but_cannot_change_them(signed_in, salon):
    for role in ("manager", "staff"):
        browser = signed_in(role)
        page = browser.page("/admin/settings")
        assert not page.has_form("tenant-form")
        token = page.form("sign-out").data()["csrf_token"]
        response = browser.client.post("/admin/settings", data={"csrf_token": token, "name": "X"})
        assert response.status_code == 403


def test_owners_add_change_and_remove_members(signed_in, salon):
    newcomer = make_user(email="new@example.com")
    browser = signed_in("owner")
    response = browser.submit(
        "/admin/members", "member-form", email="NEW@example.com", role="staff"
    )
    assert response.status_code == 303
    page = browser.page("/admin/members")
    response = browser.send(page, f"role-{newcomer.id}", role="manager")
    assert response.status_code == 303
    role = session().scalar(
        sa.select(Membership.role).where(
            Membership.user_id == newcomer.id, Membership.tenant_id == salon.tenant.id
        )
    )
    assert role == "manager"
    page = browser.page("/admin/members")
    browser.send(page, f"remove-{newcomer.id}")
    assert "new@example.com" not in browser.page("/admin/members").html


def test_an_unknown_email_is_422_on_the_email_field(signed_in, salon):
    response = signed_in("owner").submit(
        "/admin/members", "member-form", email="nobody@example.com"
    )
    assert response.status_code == 422
    assert "register" in Page(response.text).text("email-error")


def test_the_last_owner_cannot_step_down_and_is_told_why(signed_in, salon):
    browser = signed_in("owner")
    page = browser.page("/admin/members")
    browser.send(page, f"role-{salon.member('owner').user_id}", role="manager")
    assert "owner" in browser.page("/admin/members").text("flash")


def test_members_are_the_owners_alone(signed_in, salon):
    for role in ("manager", "staff"):
        browser = signed_in(role)
        page = browser.page("/admin/settings")
        assert "/admin/members" not in page.links()
        browser.get("/admin/members", status=403)


def test_notification_settings_are_saved_through_the_apis_rules(signed_in, salon):
    browser = signed_in("manager")
    page = browser.page("/admin/notifications")
    assert page.form("notification-settings-form").data()["channel_1"] == "whatsapp"
    response = browser.send(
        page, "notification-settings-form", channel_1="sms", channel_2="email", channel_3="",
        reminder_offsets="60, 1440", sms_sender="SalonNadia",
    )  # fmt: skip
    assert response.status_code == 303
    data = browser.page("/admin/notifications").form("notification-settings-form").data()
    assert data["channel_1"] == "sms" and data["channel_2"] == "email" and data["channel_3"] == ""
    assert data["reminder_offsets"] == "1440, 60"
    response = browser.send(page, "notification-settings-form", reminder_offsets="2, 1440")
    assert response.status_code == 422
    assert Page(response.text).text("reminder_offsets-error")


def test_a_template_is_previewed_saved_and_reset(signed_in, salon):
    browser = signed_in("owner")
    url = "/admin/templates/booking_confirmed/sms/fr"
    page = browser.page(url)
    response = browser.send(
        page, "template-form", body="Bonjour {{ customer_name }} !", do="preview"
    )
    assert response.status_code == 200
    preview = Page(response.text)
    assert "Bonjour Salma Bennani !" in preview.text("main")
    response = browser.send(page, "template-form", body="Bonjour {{ customer_name }} !", do="save")
    assert response.status_code == 303
    page = browser.page(url)
    assert page.form("template-form").data()["body"] == "Bonjour {{ customer_name }} !"
    response = browser.send(page, "template-reset")
    assert response.status_code == 303
    assert browser.page(url).form("template-form").data()["body"] != "Bonjour {{ customer_name }} !"


def test_a_template_with_an_unknown_variable_is_422_on_the_text(signed_in, salon):
    browser = signed_in("owner")
    response = browser.submit(
        "/admin/templates/booking_confirmed/email/ar", "template-form", subject="تأكيد",
        body="{{ secret }}", do="save",
    )  # fmt: skip
    assert response.status_code == 422
    assert "secret" in Page(response.text).text("body-error")


def test_staff_see_no_notification_settings_or_templates(signed_in, salon):
    browser = signed_in("staff")
    page = browser.page("/admin/settings")
    for url in ("/admin/notifications", "/admin/templates", "/admin/payment-settings",
                "/admin/templates/booking_confirmed/sms/fr"):  # fmt: skip
        assert url not in page.links()
        browser.get(url, status=403)


def test_payment_settings_keep_secrets_write_only(signed_in, salon):
    browser = signed_in("manager")
    response = browser.submit(
        "/admin/payment-settings", "payment-settings-form", tax_rate="10.00",
        stripe_secret_key="sk_test_abcdef123456", stripe_publishable_key="pk_test_abc",
        invoice_prefix="SN-",
    )  # fmt: skip
    assert response.status_code == 303
    page = browser.page("/admin/payment-settings")
    data = page.form("payment-settings-form").data()
    assert data["tax_rate"] == "10.00" and data["invoice_prefix"] == "SN-"
    assert data["stripe_secret_key"] == ""  # never sent back
    assert "sk_test_abcdef123456" not in page.html and "…3456" in page.html
    # Saving again without the secret keeps it.
    assert browser.send(page, "payment-settings-form").status_code == 303
    assert "…3456" in browser.page("/admin/payment-settings").html


def test_invalid_payment_settings_are_422_by_field(signed_in, salon):
    response = signed_in("owner").submit(
        "/admin/payment-settings", "payment-settings-form", stripe_secret_key="nope12345",
        ice="12", paypal_client_id="abc", paypal_client_secret="secret",
    )  # fmt: skip
    assert response.status_code == 422
    page = Page(response.text)
    assert page.text("stripe_secret_key-error")
    assert page.text("ice-error")
