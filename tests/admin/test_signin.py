"""Signing in to the admin: the API's users and passwords, a hardened session cookie, the
API's rate limits, sign-out, choosing the business, platform operators, the language."""

from __future__ import annotations

import sqlalchemy as sa
from flask.sessions import SecureCookieSessionInterface

from bookme import create_app
from bookme.core.db import session
from bookme.users.models import Membership, User
from bookme.users.passwords import hash_password
from tests.admin.conftest import Browser, book
from tests.admin.html import Page
from tests.conftest import PASSWORD, make_tenant, make_user
from tests.conftest import test_settings as settings_for_tests


def _cookie(client):
    return client.get_cookie("bookme_session")


def test_the_sign_in_form_labels_its_fields_and_carries_a_csrf_token(visitor):
    page = visitor.page("/admin/login")
    form = page.form("login-form")
    assert form.method == "post"
    assert {"email", "password", "csrf_token"} <= form.names
    assert form.data()["csrf_token"]
    for field in ("email", "password"):
        assert page.find("label", **{"for": field}), field


def test_signing_in_redirects_to_the_day_view_with_a_hardened_session_cookie(visitor, salon):
    response = visitor.submit(
        "/admin/login", "login-form", email=salon.member("owner").email, password=PASSWORD
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # testing runs on plain http
    assert visitor.get("/admin/").status_code == 200


def test_outside_development_and_testing_the_session_cookie_is_secure(app):
    production = create_app(
        settings_for_tests(
            env="production", encryption_keys=("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",)
        )
    )
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["SESSION_COOKIE_HTTPONLY"] is True
    assert production.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_a_wrong_password_is_422_with_the_same_message_as_the_api(visitor, salon):
    response = visitor.submit(
        "/admin/login", "login-form", email=salon.member("owner").email, password="wrong password"
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert "Incorrect email or password" in page.text("error-summary") or (
        "Adresse e-mail ou mot de passe incorrect" in page.text("error-summary")
    )
    assert page.form("login-form").data()["email"] == salon.member("owner").email
    assert visitor.get("/admin/", status=302).headers["Location"].startswith("/admin/login")


def test_an_empty_field_is_422_with_the_message_by_that_field(visitor, db):
    response = visitor.submit("/admin/login", "login-form", email="", password="x")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.ids["email"].get("aria-invalid") == "true"
    assert "email-error" in page.ids["email"]["aria-describedby"]
    assert page.text("email-error")


def test_pages_ask_for_sign_in_and_come_back_after_it(visitor, salon):
    response = visitor.get("/admin/bookings?status=confirmed", status=302)
    assert response.headers["Location"] == "/admin/login?next=/admin/bookings?status%3Dconfirmed"
    page = visitor.page(response.headers["Location"])
    assert page.form("login-form").data()["next"] == "/admin/bookings?status=confirmed"
    response = visitor.send(
        page, "login-form", email=salon.member("owner").email, password=PASSWORD
    )
    assert response.headers["Location"] == "/admin/bookings?status=confirmed"


def test_the_next_address_never_leads_off_the_admin(visitor, salon):
    for target in ("https://evil.example/", "//evil.example/admin", "/api/v1/me", "/admin\\@evil"):
        page = visitor.page("/admin/login?next=" + target)
        response = visitor.send(
            page, "login-form", email=salon.member("owner").email, password=PASSWORD
        )
        assert response.headers["Location"] == "/admin/", target
        visitor.client.post("/admin/logout", data={"csrf_token": _csrf(visitor)})


def _csrf(visitor: Browser) -> str:
    return visitor.page("/admin/").form("sign-out").data()["csrf_token"]


def test_sign_out_is_a_post_form_that_ends_the_session(signed_in):
    visitor = signed_in("owner")
    page = visitor.page("/admin/")
    assert page.form("sign-out").method == "post"
    assert visitor.client.get("/admin/logout").status_code == 405
    response = visitor.send(page, "sign-out")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    assert visitor.get("/admin/", status=302).headers["Location"].startswith("/admin/login")


def test_signing_in_starts_a_new_session(visitor, salon, app):
    visitor.page("/admin/login")
    before = _cookie(visitor.client).value
    visitor.login(salon.member("owner").email)
    after = _cookie(visitor.client).value
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert "csrf_token" in serializer.loads(before)
    assert "csrf_token" not in serializer.loads(after)  # no value survives from before


def test_a_request_without_the_cookie_starts_empty_and_a_forged_cookie_counts_for_nothing(
    visitor, salon, client, app
):
    # No cookie (every API client): an empty session, and nothing set in return.
    response = client.get("/api/v1/services", headers={"X-Tenant": salon.tenant.slug})
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    response = client.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    # The signed-in session's very contents, signed with another key, are not believed.
    visitor.login(salon.member("owner").email)
    real = _cookie(visitor.client).value
    contents = SecureCookieSessionInterface().get_signing_serializer(app).loads(real)
    other = create_app(settings_for_tests(secret_key="another-secret-key-" + "z" * 32))
    forged = SecureCookieSessionInterface().get_signing_serializer(other).dumps(contents)
    visitor.client.set_cookie("bookme_session", forged)
    assert visitor.get("/admin/", status=302).headers["Location"].startswith("/admin/login")
    visitor.client.set_cookie("bookme_session", real)
    assert visitor.get("/admin/").status_code == 200


def test_a_password_change_signs_admin_sessions_out(signed_in, salon):
    visitor = signed_in("manager")
    user = session().get(User, salon.member("manager").user_id)
    user.password_hash = hash_password("another long password")
    session().commit()
    assert visitor.get("/admin/", status=302).headers["Location"].startswith("/admin/login")


def test_a_deactivated_account_is_signed_out(signed_in, salon):
    visitor = signed_in("manager")
    session().get(User, salon.member("manager").user_id).is_active = False
    session().commit()
    visitor.get("/admin/", status=302)


def test_a_user_without_a_business_is_told_how_to_get_one(visitor, db):
    user = make_user()
    visitor.login(user.email)
    response = visitor.get("/admin/", status=409)
    assert "member of any business" in response.text or "membre" in response.text


# --- rate limits, shared with the API's login ----------------------------------------------------


def _attempt(client, page: Page, email: str, password: str, address: str):
    data = page.form("login-form").data(email=email, password=password)
    return client.post("/admin/login", data=data, environ_base={"REMOTE_ADDR": address})


def test_sign_in_allows_ten_attempts_a_minute_per_address(visitor, salon):
    page = visitor.page("/admin/login")
    for _ in range(10):
        assert (
            _attempt(visitor.client, page, "nobody@example.com", "x", "10.0.0.7").status_code == 422
        )
    response = _attempt(visitor.client, page, salon.member("owner").email, PASSWORD, "10.0.0.7")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert Page(response.text).has_form("login-form")
    # Another address is not held back.
    response = _attempt(visitor.client, page, salon.member("owner").email, PASSWORD, "10.0.0.8")
    assert response.status_code == 303


def test_failures_through_the_api_count_against_the_admin_sign_in(visitor, client, salon):
    email = salon.member("manager").email
    for i in range(20):
        response = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": "wrong password"},
            environ_base={"REMOTE_ADDR": f"10.1.{i}.1"},
        )
        assert response.status_code == 401
    page = visitor.page("/admin/login")
    response = _attempt(visitor.client, page, email.upper(), PASSWORD, "10.9.9.9")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 60


def test_admin_failures_count_against_the_api_login(visitor, client, salon):
    email = salon.member("manager").email
    page = visitor.page("/admin/login")
    for i in range(20):
        assert (
            _attempt(visitor.client, page, email, "wrong password", f"10.2.{i}.1").status_code
            == 422
        )
    response = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.9.8"},
    )
    assert response.status_code == 429


# --- businesses -------------------------------------------------------------------------------


def test_a_member_of_one_business_sees_no_switcher(signed_in):
    page = signed_in("manager").page("/admin/")
    assert not page.has_form("switch-tenant")


def test_a_member_of_several_businesses_switches_from_the_menu(signed_in, salon):
    other = make_tenant(name="Hammam Zitoun")
    session().add(
        Membership(tenant_id=other.id, user_id=salon.member("manager").user_id, role="staff")
    )
    session().commit()
    visitor = signed_in("manager")
    page = visitor.page("/admin/")
    form = page.form("switch-tenant")
    assert set(form.options["slug"]) == {salon.tenant.slug, other.slug}
    response = visitor.send(page, "switch-tenant", slug=other.slug)
    assert response.status_code == 303
    page = visitor.page("/admin/")
    assert "Hammam Zitoun" in page.html
    # The staff role there: catalog writes are hidden, and refused.
    assert "/admin/services/new" not in visitor.get("/admin/services").text
    visitor.get("/admin/services/new", status=403)


def test_switching_to_a_business_one_is_not_a_member_of_is_refused(signed_in):
    other = make_tenant()
    visitor = signed_in("manager")
    page = visitor.page("/admin/")
    # The form is not shown to a member of one business; a hand-made request is refused.
    data = {"csrf_token": page.form("sign-out").data()["csrf_token"], "slug": other.slug}
    assert visitor.client.post("/admin/switch", data=data).status_code == 403


def test_an_operator_enters_any_business_and_is_recorded_by_name(visitor, client, salon, db):
    created = book(client, salon, "2027-05-04 10:00")
    operator = make_user(email="ops@bookme.test", full_name="Ops")
    session().get(User, operator.id).is_operator = True
    session().commit()
    visitor.login("ops@bookme.test")
    response = visitor.get("/admin/", status=409)  # no business of their own yet
    assert "/admin/tenants" in response.text
    page = visitor.page(f"/admin/tenants?q={salon.tenant.slug}")
    response = visitor.send(page, f"enter-{salon.tenant.slug}")
    assert response.status_code == 303
    page = visitor.page(f"/admin/bookings/{created['id']}")
    assert "ops@bookme.test" in page.html  # the banner names who is acting
    response = visitor.send(page, "booking-confirm") if page.has_form("booking-confirm") else None
    assert response is None  # already confirmed: no confirm button
    cancel = visitor.submit(
        f"/admin/bookings/{created['id']}/cancel", "cancel-form", reason="Ops test"
    )
    assert cancel.status_code == 303
    from bookme.bookings.models import BookingEvent
    from tests.factories import use_tenant

    use_tenant(salon.tenant)
    event = session().scalars(sa.select(BookingEvent).where(BookingEvent.type == "cancelled")).one()
    assert event.actor["email"] == "ops@bookme.test"
    assert event.actor["user_id"] == str(operator.id)


def test_only_operators_see_and_reach_the_list_of_businesses(signed_in):
    visitor = signed_in("owner")
    assert "/admin/tenants" not in visitor.get("/admin/").text
    visitor.get("/admin/tenants", status=403)


# --- language -----------------------------------------------------------------------------------


def test_the_language_switcher_renders_the_admin_in_arabic_right_to_left(signed_in):
    visitor = signed_in("owner")
    page = visitor.page("/admin/bookings")
    response = visitor.send(page, "language", lang="ar")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/bookings"
    html = visitor.get("/admin/bookings").text
    assert '<html lang="ar" dir="rtl">' in html
    html = visitor.get("/admin/bookings", headers={"Accept-Language": "en"}).text
    assert '<html lang="ar" dir="rtl">' in html  # the choice wins over the visitor's


def test_without_a_choice_the_business_language_is_used(signed_in):
    html = signed_in("owner").get("/admin/").text
    assert '<html lang="fr" dir="ltr">' in html


def test_the_sign_in_page_follows_the_browser_language(visitor, db):
    html = visitor.get("/admin/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    assert '<html lang="en" dir="ltr">' in html
    html = visitor.get("/admin/login", headers={"Accept-Language": "ar-MA"}).text
    assert '<html lang="ar" dir="rtl">' in html


def test_a_password_hash_is_never_written_to_the_cookie(signed_in, app, salon):
    visitor = signed_in("owner")
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    content = serializer.loads(_cookie(visitor.client).value)
    user = session().get(User, salon.member("owner").user_id)
    assert user.password_hash not in str(content)
    assert set(content) <= {"_permanent", "uid", "stamp", "tenant", "lang", "csrf_token"}


def test_a_suspended_business_gives_way_to_another_membership(signed_in, salon):
    from bookme.core.clock import now
    from bookme.tenants.service import set_status

    other = make_tenant(name="Hammam Zitoun")
    session().add(
        Membership(tenant_id=other.id, user_id=salon.member("manager").user_id, role="manager")
    )
    session().commit()
    visitor = signed_in("manager")
    visitor.send(visitor.page("/admin/"), "switch-tenant", slug=other.slug)
    assert "Hammam Zitoun" in visitor.get("/admin/").text
    set_status(slug=other.slug, status="suspended", now=now())
    page = visitor.page("/admin/")
    assert "Salon Test" in page.html and "Hammam Zitoun" not in page.text("main")
    assert not page.has_form("switch-tenant")  # one business left to work in
