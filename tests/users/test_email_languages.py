"""The account emails are written in the language of the request that caused them (its
Accept-Language among French, Arabic and English; French otherwise), and their link opens the
account page in that language."""

from __future__ import annotations

import pytest

from tests.users.conftest import make_user, opens_in, post

# Each flow: what the API is sent, the page the emailed link opens, and what the email says
# (subject, then sentences of the plain-text part) in each language.
FLOWS = {
    "sign-up": (
        "/auth/register",
        {"email": "salma@example.com", "password": "a long enough pw", "full_name": "Salma B."},
        "/account/verify-email",
        {
            "fr": [
                "Confirmez votre adresse e-mail",
                "Bonjour Salma B.,",
                "Le lien ne fonctionne qu'une fois et expire dans 48 heures.",
            ],
            "ar": [
                "أكّد عنوان بريدك الإلكتروني",
                "مرحبًا Salma B.،",
                "يعمل الرابط مرة واحدة وتنتهي صلاحيته بعد 48 ساعة.",
            ],
            "en": [
                "Confirm your email address",
                "Hello Salma B.,",
                "The link works once and expires in 48 hours.",
            ],
        },
    ),
    "password reset": (
        "/auth/password/forgot",
        {"email": "salma@example.com"},
        "/account/reset-password",
        {
            "fr": [
                "Réinitialisez votre mot de passe BookMe",
                "Bonjour Salma B.,",
                "Le lien ne fonctionne qu'une fois et expire dans 60 minutes.",
            ],
            "ar": [
                "أعد تعيين كلمة مرورك في BookMe",
                "مرحبًا Salma B.،",
                "يعمل الرابط مرة واحدة وتنتهي صلاحيته بعد 60 دقيقة.",
            ],
            "en": [
                "Reset your BookMe password",
                "Hello Salma B.,",
                "The link works once and expires in 60 minutes.",
            ],
        },
    ),
}


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        (None, "fr"),
        ("ar", "ar"),
        ("ar-MA,ar;q=0.9,fr;q=0.8", "ar"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9", "fr"),
    ],
)
@pytest.mark.parametrize("flow", list(FLOWS))
def test_the_email_and_its_page_speak_the_request_s_language(
    client, db, mailbox, run_jobs, flow, accept_language, language
):
    path, body, page, wording = FLOWS[flow]
    if path == "/auth/password/forgot":
        make_user(email="salma@example.com", full_name="Salma B.")
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = post(client, path, body, headers=headers)
    assert response.status_code == (201 if path == "/auth/register" else 202)
    run_jobs()
    received = mailbox.take_one()
    subject, *sentences = wording[language]
    assert received.message["Subject"] == subject
    assert f"<title>{subject}</title>" in received.html
    for sentence in sentences:
        assert sentence in received.text
    opens_in(client, received, page, language)
