"""The pages the account emails link to: /account/verify-email and /account/reset-password.

Opening a link changes nothing (mail scanners open links); the page's button spends the
token. A used, expired or unknown token gets a clear message, a missing one a 400 page, and
the token never reaches a log line.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bookme import account
from bookme.admin import i18n
from bookme.core import clock
from bookme.manage.accesslog import redact_uri
from bookme.users.passwords import MIN_LENGTH
from tests.admin.html import Page
from tests.conftest import PASSWORD
from tests.users.conftest import bearer, login, make_user, post

NEW_PASSWORD = "a brand new password"
VERIFY, RESET = "/account/verify-email", "/account/reset-password"


def _link(mailbox, path: str) -> str:
    """The path and query of the emailed link, as a browser would request it."""
    received = mailbox.take_one()
    match = re.search(r"https?://\S+" + re.escape(path) + r"\?token=[A-Za-z0-9_-]+", received.text)
    assert match, received.text
    url = urlsplit(match.group(0))
    return f"{url.path}?{url.query}"


def _token(link: str) -> str:
    return link.split("token=", 1)[1]


@pytest.fixture
def verify_link(client, mailbox, run_jobs) -> str:
    body = {"email": "nadia@example.com", "password": PASSWORD, "full_name": "Nadia B."}
    assert post(client, "/auth/register", body).status_code == 201
    run_jobs()
    return _link(mailbox, VERIFY)


@pytest.fixture
def reset_link(client, mailbox, run_jobs) -> str:
    make_user(email="salma@example.com")
    assert post(client, "/auth/password/forgot", {"email": "salma@example.com"}).status_code == 202
    run_jobs()
    return _link(mailbox, RESET)


def _verified(client) -> bool:
    tokens = login(client, "nadia@example.com").get_json()
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()
    return me["email_verified"]


def _private(response) -> None:
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


# --- email verification ----------------------------------------------------------------------


def test_the_emailed_link_asks_first_and_the_button_verifies(client, verify_link):
    for _ in range(2):  # a mail scanner's visit, then the user's: neither spends the token
        response = client.get(verify_link)
        assert response.status_code == 200
        _private(response)
    assert _verified(client) is False
    page = Page(response.text)
    assert '<html lang="fr" dir="ltr">' in response.text
    form = page.form("verify-email")
    assert form.method == "post" and form.action == verify_link
    assert "csrf_token" not in form.names  # the token in the link is the credential
    assert "Confirmer mon adresse e-mail" in page.text("main")

    done = client.post(form.action, data=form.data())
    assert done.status_code == 200
    _private(done)
    assert "Adresse e-mail confirmée" in Page(done.text).text("main")
    assert _verified(client) is True


def test_the_page_is_in_english_when_asked(client, verify_link):
    response = client.get(verify_link + "&lang=en")
    assert '<html lang="en" dir="ltr">' in response.text
    form = Page(response.text).form("verify-email")
    assert "Confirm my email address" in response.text
    done = client.post(form.action, data=form.data())
    assert "Your email address is confirmed." in done.text


def test_a_used_verification_link_gets_a_clear_message(client, verify_link):
    assert client.post(verify_link).status_code == 200
    again = client.post(verify_link)
    assert again.status_code == 422
    page = Page(again.text)
    assert "Ce lien n'est pas valide ou a déjà été utilisé." in page.text("main")
    assert not page.has_form("verify-email")
    assert "problem+json" not in again.content_type


def test_an_expired_verification_link_gets_a_clear_message(client, mailbox, run_jobs):
    with clock.frozen(clock.now()):
        body = {"email": "nadia@example.com", "password": PASSWORD, "full_name": "Nadia B."}
        post(client, "/auth/register", body)
        run_jobs()
        link = _link(mailbox, VERIFY)
        clock.advance(timedelta(hours=48, seconds=1))
        response = client.post(link + "&lang=en")
    assert response.status_code == 422
    assert "This link has expired. Please ask for a new one." in response.text
    assert _verified(client) is False


@pytest.mark.parametrize("token", [secrets.token_urlsafe(32), "x" * 500])
def test_an_unknown_verification_token_is_refused_kindly(client, db, token):
    assert client.get(f"{VERIFY}?token={token}").status_code == 200
    response = client.post(f"{VERIFY}?token={token}&lang=en")
    assert response.status_code == 422
    assert "This link is not valid or was already used." in response.text


# --- password reset --------------------------------------------------------------------------


def test_the_reset_link_shows_a_form_and_changes_the_password(client, reset_link):
    old = login(client, "salma@example.com").get_json()
    response = client.get(reset_link)
    assert response.status_code == 200
    _private(response)
    page = Page(response.text)
    form = page.form("reset-password")
    assert form.method == "post" and form.action == reset_link
    assert "csrf_token" not in form.names
    for name in ("password", "confirmation"):
        [field] = page.find("input", name=name)
        assert field["type"] == "password" and field["minlength"] == str(MIN_LENGTH)
    assert client.get(reset_link).status_code == 200  # opening it again spends nothing

    changes = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    done = client.post(form.action, data=form.data(**changes))
    assert done.status_code == 200
    _private(done)
    text = Page(done.text).text("main")
    assert "Mot de passe modifié" in text
    assert "toutes les sessions de votre compte ont été déconnectées" in text
    assert login(client, "salma@example.com", NEW_PASSWORD).status_code == 200
    assert login(client, "salma@example.com", PASSWORD).status_code == 401
    assert post(client, "/auth/refresh", headers=bearer(old["refresh_token"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(old["access_token"])).status_code == 401


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords are not the same."),
        ("short", "short", f"Choose a password of at least {MIN_LENGTH} characters"),
        (" " * MIN_LENGTH, " " * MIN_LENGTH, "not only spaces"),
    ],
)
def test_a_refused_password_shows_the_form_again_and_keeps_the_token(
    client, reset_link, password, confirmation, message
):
    response = client.post(
        reset_link + "&lang=en", data={"password": password, "confirmation": confirmation}
    )
    assert response.status_code == 422
    page = Page(response.text)
    assert message in page.text("main")
    assert page.has_form("reset-password")
    assert login(client, "salma@example.com", PASSWORD).status_code == 200
    data = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    assert client.post(reset_link, data=data).status_code == 200
    assert login(client, "salma@example.com", NEW_PASSWORD).status_code == 200


def test_a_used_expired_or_unknown_reset_token_is_refused_kindly(client, mailbox, run_jobs):
    data = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    make_user(email="salma@example.com")
    with clock.frozen(clock.now()):
        post(client, "/auth/password/forgot", {"email": "salma@example.com"})
        run_jobs()
        link = _link(mailbox, RESET)
        clock.advance(timedelta(minutes=60))
        expired = client.post(link + "&lang=en", data=data)
    assert expired.status_code == 422
    assert "This link has expired." in expired.text
    assert Page(expired.text).has_form("reset-password")

    post(client, "/auth/password/forgot", {"email": "salma@example.com"})
    run_jobs()
    link = _link(mailbox, RESET)
    assert client.post(link, data=data).status_code == 200
    used = client.post(link + "&lang=en", data=data)
    assert used.status_code == 422
    assert "This link is not valid or was already used." in used.text

    unknown = client.post(f"{RESET}?token={secrets.token_urlsafe(32)}&lang=en", data=data)
    assert unknown.status_code == 422
    assert "This link is not valid or was already used." in unknown.text
    assert login(client, "salma@example.com", NEW_PASSWORD).status_code == 200


def test_a_verification_token_does_not_reset_a_password(client, verify_link):
    data = {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    response = client.post(f"{RESET}?token={_token(verify_link)}", data=data)
    assert response.status_code == 422
    assert login(client, "nadia@example.com", NEW_PASSWORD).status_code == 401


# --- both pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [VERIFY, RESET])
@pytest.mark.parametrize("query", ["", "?token=", "?lang=en"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_link_without_its_token_is_a_friendly_400(client, db, path, query, method):
    response = client.open(path + query, method=method)
    assert response.status_code == 400
    assert "<h1>" in response.text and "problem+json" not in response.content_type
    assert "Lien incomplet" in response.text or "Incomplete link" in response.text
    _private(response)


def test_arabic_pages_read_right_to_left(client, verify_link, reset_link):
    for link in (verify_link, reset_link):
        response = client.get(link + "&lang=ar")
        assert '<html lang="ar" dir="rtl">' in response.text
    assert "تغيير كلمة المرور" in response.text
    browser_says = client.get(verify_link, headers={"Accept-Language": "ar-MA,ar;q=0.9"})
    assert '<html lang="ar" dir="rtl">' in browser_says.text
    assert "تأكيد عنوان بريدي الإلكتروني" in browser_says.text


def test_the_language_switcher_keeps_the_token(client, verify_link):
    page = Page(client.get(verify_link).text)
    english = next(a["href"] for a in page.find("a") if a.get("hreflang") == "en")
    assert english == verify_link + "&lang=en"
    assert '<html lang="en" dir="ltr">' in client.get(english).text


def test_the_pages_load_nothing_from_elsewhere(client, verify_link, reset_link):
    for link in (verify_link, reset_link):
        html = client.get(link).text
        assert "http://" not in html and "https://" not in html
        assert "<script" not in html


def test_the_token_never_reaches_a_log_line(client, verify_link, reset_link, caplog):
    with caplog.at_level(logging.INFO, logger="bookme.request"):
        client.get(verify_link)
        client.post(verify_link)
        client.post(reset_link, data={"password": "x", "confirmation": "x"})
    lines = [r.getMessage() for r in caplog.records]
    assert "GET /account/verify-email 200" in lines
    assert "POST /account/reset-password 422" in lines
    assert not [line for line in lines if _token(verify_link) in line or _token(reset_link) in line]


def test_gunicorn_access_logs_redact_a_token_in_the_query():
    assert redact_uri("GET /account/verify-email?token=Abc_-123&lang=ar HTTP/1.1") == (
        "GET /account/verify-email?token=<token>&lang=ar HTTP/1.1"
    )
    assert redact_uri("token=Abc_-123") == "token=<token>"  # gunicorn's %(q)s
    assert redact_uri("https://bookme.ma/account/reset-password?lang=en&token=Abc") == (
        "https://bookme.ma/account/reset-password?lang=en&token=<token>"
    )
    assert redact_uri("/admin/bookings?q=token") == "/admin/bookings?q=token"


# --- translations and templates --------------------------------------------------------------


def _messages() -> set[str]:
    methods = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    found = extract_from_dir(account.__path__[0], methods, keywords=DEFAULT_KEYWORDS)
    return {message[0] if isinstance(message, tuple) else message for _, _, message, _, _ in found}


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_of_the_pages_is_in_each_catalog(language):
    with i18n.po_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages = _messages()
    assert len(messages) > 15
    assert not messages - {m.id for m in catalog if m.id}
    if language != "en":  # English entries are empty: the msgid shows
        assert all(catalog[m].string for m in messages)


def test_every_template_loads(app):
    names = [n for n in app.jinja_env.list_templates() if n.startswith("account/")]
    assert len(names) == 5
    for name in names:
        assert app.jinja_env.get_template(name) is not None
