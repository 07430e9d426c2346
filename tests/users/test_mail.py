"""Account email: message shape and languages, and real SMTP delivery in each TLS mode, with and
without AUTH."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import smtplib
import ssl
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bookme.core import mail as core_mail
from bookme.users import mail
from bookme.users.tasks import send_email
from tests.plugins.smtp import make_smtp_server, point_app_at
from tests.users.conftest import post

EMAIL = mail.password_reset_email(
    to="salma@example.com",
    name="Salma <b>B.</b>",
    link="http://bookme.test/r?token=abc",
    valid_minutes=60,
    language="en",
)


def test_a_message_has_a_plain_text_and_an_html_part():
    message = mail.build_message(EMAIL, "BookMe <no-reply@bookme.test>")
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "salma@example.com"
    assert message["From"] == "BookMe <no-reply@bookme.test>"
    assert message["Message-ID"].endswith("@bookme.test>")
    assert message["Date"]


def test_the_html_part_escapes_what_users_typed():
    assert "Salma &lt;b&gt;B.&lt;/b&gt;" in EMAIL.html
    assert "<b>B.</b>" not in EMAIL.html
    assert "Salma <b>B.</b>" in EMAIL.text  # plain text is not HTML


@pytest.mark.parametrize(
    ("language", "direction", "subject", "greeting", "button", "copy"),
    [
        (
            "fr",
            "ltr",
            "Confirmez votre adresse e-mail",
            "Bonjour Salma &lt;b&gt;B.&lt;/b&gt;,",
            "Confirmer mon adresse e-mail",
            "Si le bouton ne fonctionne pas, copiez cette adresse dans votre navigateur :",
        ),
        (
            "ar",
            "rtl",
            "أكّد عنوان بريدك الإلكتروني",
            "مرحبًا Salma &lt;b&gt;B.&lt;/b&gt;،",
            "تأكيد عنوان بريدي الإلكتروني",
            "إذا لم يعمل الزر، فانسخ هذا العنوان في متصفحك:",
        ),
        (
            "en",
            "ltr",
            "Confirm your email address",
            "Hello Salma &lt;b&gt;B.&lt;/b&gt;,",
            "Confirm my email address",
            "If the button does not work, copy this address into your browser:",
        ),
    ],
)
def test_a_verification_email_is_written_in_the_language_it_is_given(
    language, direction, subject, greeting, button, copy
):
    email = mail.verification_email(
        to="salma@example.com",
        name="Salma <b>B.</b>",
        link=f"http://bookme.test/v?token=abc&lang={language}",
        valid_hours=48,
        language=language,
    )
    assert email.subject == subject
    assert f'<html lang="{language}" dir="{direction}">' in email.html
    assert f"<title>{subject}</title>" in email.html
    assert f"<p>{greeting}</p>" in email.html
    assert (
        f'<a href="http://bookme.test/v?token=abc&amp;lang={language}">{button}</a>' in email.html
    )
    assert copy in email.html
    assert f"{button}: http://bookme.test/v?token=abc&lang={language}" in email.text
    assert "Salma <b>B.</b>" in email.text


def test_a_reset_email_in_french_and_arabic_translates_every_sentence():
    french, arabic = (
        mail.password_reset_email(
            to="salma@example.com",
            name="Salma",
            link="http://bookme.test/r?token=abc",
            valid_minutes=60,
            language=language,
        )
        for language in ("fr", "ar")
    )
    assert french.subject == "Réinitialisez votre mot de passe BookMe"
    assert french.text.splitlines() == [
        "Bonjour Salma,",
        "",
        "Quelqu'un (vous, espérons-le) a demandé la réinitialisation du mot de passe de votre "
        "compte BookMe.",
        "",
        "Choisissez un nouveau mot de passe: http://bookme.test/r?token=abc",
        "",
        "Le lien ne fonctionne qu'une fois et expire dans 60 minutes. Si vous n'êtes pas à "
        "l'origine de cette demande, ignorez ce message : votre mot de passe reste inchangé.",
        "",
        "BookMe",
    ]
    assert arabic.subject == "أعد تعيين كلمة مرورك في BookMe"
    assert arabic.text.splitlines() == [
        "مرحبًا Salma،",
        "",
        "طلب شخص ما (نأمل أن تكون أنت) إعادة تعيين كلمة مرور حسابك في BookMe.",
        "",
        "اختر كلمة مرور جديدة: http://bookme.test/r?token=abc",
        "",
        "يعمل الرابط مرة واحدة وتنتهي صلاحيته بعد 60 دقيقة. "
        "إذا لم تطلب ذلك، فتجاهل هذه الرسالة: تبقى كلمة مرورك كما هي.",
        "",
        "BookMe",
    ]


@pytest.mark.parametrize(
    ("hours", "french", "arabic"),
    [
        (1, "expire dans 1 heure.", "بعد ساعة واحدة."),
        (2, "expire dans 2 heures.", "بعد ساعتين."),
        (3, "expire dans 3 heures.", "بعد 3 ساعات."),
        (48, "expire dans 48 heures.", "بعد 48 ساعة."),
        (120, "expire dans 120 heures.", "بعد 120 ساعة."),
    ],
)
def test_the_validity_is_counted_with_each_language_s_plural_forms(hours, french, arabic):
    def text(language):
        return mail.verification_email(
            to="a@example.com", name="A", link="http://x", valid_hours=hours, language=language
        ).text

    assert french in text("fr")
    assert arabic in text("ar")


def test_without_smtp_host_development_logs_the_message(app, caplog, smtp_guard):
    settings = replace(app.config["BOOKME"], env="development", smtp_host=None)
    with caplog.at_level(logging.INFO, logger="bookme.mail"):
        mail.send(EMAIL, settings)
    assert "http://bookme.test/r?token=abc" in caplog.text
    assert smtp_guard.attempts == []


def test_without_smtp_host_production_refuses_to_pretend(app):
    settings = replace(app.config["BOOKME"], env="production", smtp_host=None)
    with pytest.raises(mail.MailNotConfigured):
        mail.send(EMAIL, settings)


# --- TLS modes against a real server ---------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _server_context(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def trust_test_ca(certificate, monkeypatch):
    """The client verifies certificates as in production, trusting only the test CA."""
    monkeypatch.setattr(
        core_mail, "tls_context", lambda: ssl.create_default_context(cafile=str(certificate[0]))
    )


@pytest.fixture
def in_app(app):
    """Jobs run in the test app (its settings), as they do under the test's worker."""
    with app.app_context():
        yield


@pytest.fixture
def server_factory(smtp_guard, in_app):
    started = []

    def start(**kwargs):
        server = make_smtp_server(**kwargs)
        smtp_guard.allow(server)
        started.append(server)
        return server

    yield start
    for server in started:
        server.controller.stop()


def test_starttls_with_auth_delivers_over_an_encrypted_authenticated_session(
    app, monkeypatch, certificate, trust_test_ca, server_factory
):
    server = server_factory(
        tls_context=_server_context(certificate), credentials=("mailer", "s3cret")
    )
    point_app_at(
        app,
        monkeypatch,
        server,
        smtp_tls="starttls",
        smtp_username="mailer",
        smtp_password="s3cret",
    )
    send_email(**EMAIL.as_job_kwargs())
    received = server.take_one()
    assert received.over_tls is True
    assert received.authenticated_as == "mailer"
    assert received.rcpt_tos == ["salma@example.com"]
    assert "token=abc" in received.text


def test_wrong_smtp_credentials_fail_the_send(
    app, monkeypatch, certificate, trust_test_ca, server_factory
):
    server = server_factory(
        tls_context=_server_context(certificate), credentials=("mailer", "s3cret")
    )
    point_app_at(
        app, monkeypatch, server, smtp_tls="starttls", smtp_username="mailer", smtp_password="wrong"
    )
    with pytest.raises(smtplib.SMTPAuthenticationError):
        send_email(**EMAIL.as_job_kwargs())
    assert server.messages == []


def test_implicit_tls_delivers(app, monkeypatch, certificate, trust_test_ca, server_factory):
    server = server_factory(tls_context=_server_context(certificate), implicit_tls=True)
    point_app_at(app, monkeypatch, server, smtp_tls="ssl")
    send_email(**EMAIL.as_job_kwargs())
    assert server.take_one().over_tls is True


def test_an_untrusted_certificate_is_refused(app, monkeypatch, certificate, server_factory):
    server = server_factory(tls_context=_server_context(certificate))
    point_app_at(app, monkeypatch, server, smtp_tls="starttls")
    with pytest.raises(ssl.SSLCertVerificationError):
        send_email(**EMAIL.as_job_kwargs())
    assert server.messages == []


# --- the job ---------------------------------------------------------------------------


def test_the_email_job_carries_everything_it_needs_and_reads_no_database(
    client, db, app, redis_client
):
    from rq import Queue

    post(
        client,
        "/auth/register",
        {"email": "n@example.com", "password": "long enough pw", "full_name": "N"},
    )
    jobs = Queue(app.config["BOOKME"].rq_queue, connection=redis_client).get_jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job.func_name == "bookme.users.tasks.send_email"
    assert job.args == ()
    assert set(job.kwargs) == {"to", "subject", "text", "html"}
    assert job.kwargs["to"] == "n@example.com"
    assert job.retries_left == 5


def test_nothing_is_queued_when_the_transaction_rolls_back(client, db, app, redis_client):
    from rq import Queue

    from tests.users.conftest import make_user

    make_user(email="taken@example.com")
    response = post(
        client,
        "/auth/register",
        {"email": "taken@example.com", "password": "long enough pw", "full_name": "N"},
    )
    assert response.status_code == 409
    assert Queue(app.config["BOOKME"].rq_queue, connection=redis_client).count == 0


def test_a_failed_send_is_retried_later(client, db, app, monkeypatch, run_jobs, smtp_guard):
    from rq.job import JobStatus

    # SMTP configured, but the server refuses connections (the guard stands in for it).
    monkeypatch.setitem(
        app.config, "BOOKME", replace(app.config["BOOKME"], smtp_host="127.0.0.1", smtp_port=9)
    )
    post(
        client,
        "/auth/register",
        {"email": "n@example.com", "password": "long enough pw", "full_name": "N"},
    )
    (job,) = run_jobs(expect_failures=True)
    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 4
    smtp_guard.attempts.clear()  # expected here
