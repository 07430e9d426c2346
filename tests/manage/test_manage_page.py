"""The customer's manage page /m/<token>: the booking in the customer's language, cancel and
reschedule before the cutoff and a clear message after it, no account, no cookie, no leak."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from bookme.core import clock
from bookme.manage.accesslog import redact_uri
from tests.admin.conftest import NOW, Salon, at
from tests.admin.html import Page


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with clock.frozen(NOW):
        yield


def public_booking(client, salon: Salon, local: str, locale: str = "fr") -> dict[str, Any]:
    response = client.post(
        "/api/v1/public/bookings",
        json={
            "service_id": str(salon.service.id),
            "staff_id": str(salon.nadia.id),
            "starts_at": at(local),
            "customer": {"full_name": "Salma Bennani", "phone": "+212612345678", "locale": locale},
        },
        headers={"X-Tenant": salon.tenant.slug},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _status(client, token: str) -> str:
    return client.get(f"/api/v1/public/bookings/{token}").get_json()["status"]


def test_the_page_shows_the_booking_in_the_customers_language(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00")
    response = client.get(f"/m/{created['manage_token']}")
    assert response.status_code == 200
    page = Page(response.text)
    assert '<html lang="fr" dir="ltr">' in response.text
    text = page.text("main")
    assert "Coupe" in text and "Nadia" in text
    assert "jeudi 6 mai 2027" in text and "10:00–10:30" in text  # noqa: RUF001
    assert "80,00" in text  # the price, and what is still to pay
    assert f"/m/{created['manage_token']}/cancel" in page.links()


def test_an_arabic_customer_gets_the_page_right_to_left(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00", locale="ar")
    response = client.get(f"/m/{created['manage_token']}")
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "الخميس" in response.text  # Thursday, in Arabic
    assert "10:00" in response.text  # Latin digits, as in Morocco


def test_the_customer_can_switch_language_with_a_link(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00", locale="ar")
    page = Page(client.get(f"/m/{created['manage_token']}").text)
    english = next(a["href"] for a in page.find("a") if a.get("hreflang") == "en")
    assert english == f"/m/{created['manage_token']}?lang=en"
    assert '<html lang="en" dir="ltr">' in client.get(english).text


def test_cancelling_before_the_cutoff_asks_then_cancels(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00")
    token = created["manage_token"]
    page = Page(client.get(f"/m/{token}/cancel").text)
    form = page.form("manage-cancel")
    assert "csrf_token" not in form.names  # the token in the path is the credential
    response = client.post(form.action, data=form.data(reason="Empêchement"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/m/{token}?done=cancelled"
    assert _status(client, token) == "cancelled"
    assert 'class="flash" role="status"' in client.get(response.headers["Location"]).text
    page = Page(client.get(f"/m/{token}").text)
    assert f"/m/{token}/cancel" not in page.links()


def test_after_the_cutoff_the_page_says_so_and_refuses(client, salon):
    created = public_booking(client, salon, "2027-05-04 10:00")  # 25 hours ahead: still open
    token = created["manage_token"]
    with clock.frozen(datetime(2027, 5, 3, 12, 0, tzinfo=UTC)):  # 21 hours before: too late
        page = Page(client.get(f"/m/{token}").text)
        assert f"/m/{token}/cancel" not in page.links()
        assert "flash-warning" in page.html
        response = client.post(f"/m/{token}/cancel", data={})
        assert response.status_code == 409
        assert "flash-error" in response.text
    assert _status(client, token) == "confirmed"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2027-W18-5"])
def test_a_reschedule_date_out_of_the_calendar_shows_the_default_day(client, salon, day):
    token = public_booking(client, salon, "2027-05-06 10:00")["manage_token"]
    response = client.get(f"/m/{token}/reschedule?date={day}")
    assert response.status_code == 200
    assert Page(response.text).form("manage-reschedule").options["starts_at"]


def _lengthen_service(client, salon, minutes: int) -> None:
    # Existing bookings keep their blocked range; new slots take the new length.
    response = client.patch(
        f"/api/v1/services/{salon.service.id}",
        json={"duration_minutes": minutes},
        headers={**salon.member("owner").headers, "X-Tenant": salon.tenant.slug},
    )
    assert response.status_code == 200, response.get_json()


def test_a_booking_can_move_to_a_time_that_overlaps_its_own(client, salon):
    token = public_booking(client, salon, "2027-05-06 10:00")["manage_token"]
    _lengthen_service(client, salon, 60)
    page = Page(client.get(f"/m/{token}/reschedule?date=2027-05-06").text)
    offered = page.form("manage-reschedule").options["starts_at"]
    # 09:30-10:30 overlaps only the booking being moved: offered, and the move succeeds.
    assert at("2027-05-06 09:30") in offered
    assert at("2027-05-06 10:00") not in offered  # where it already is
    response = client.post(
        f"/m/{token}/reschedule?date=2027-05-06", data={"starts_at": at("2027-05-06 09:30")}
    )
    assert response.status_code == 303
    moved = client.get(f"/api/v1/public/bookings/{token}").get_json()
    assert (moved["starts_at"], moved["ends_at"]) == (
        at("2027-05-06 09:30"), at("2027-05-06 10:30"),
    )  # fmt: skip


def test_rescheduling_offers_free_times_and_moves_the_booking(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00")
    token = created["manage_token"]
    page = Page(client.get(f"/m/{token}/reschedule?date=2027-05-07").text)
    form = page.form("manage-reschedule")
    assert form.options["starts_at"][0] == at("2027-05-07 09:00")
    response = client.post(form.action, data=form.data(starts_at=at("2027-05-07 15:00")))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/m/{token}?done=rescheduled"
    moved = client.get(f"/api/v1/public/bookings/{token}").get_json()
    assert moved["starts_at"] == at("2027-05-07 15:00")


def test_choosing_no_time_is_422_and_a_taken_time_is_409(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00")
    token = created["manage_token"]
    assert client.post(f"/m/{token}/reschedule?date=2027-05-07", data={}).status_code == 422
    other = public_booking(client, salon, "2027-05-07 11:00")
    assert other["status"] == "confirmed"
    response = client.post(
        f"/m/{token}/reschedule?date=2027-05-07", data={"starts_at": at("2027-05-07 11:00")}
    )
    assert response.status_code == 409


def test_an_unknown_link_is_a_friendly_404(client, salon):
    response = client.get("/m/" + "x" * 43)
    assert response.status_code == 404
    assert "<h1>" in response.text and "problem+json" not in response.content_type


def test_the_page_sets_no_cookie_and_leaks_nothing(client, salon):
    created = public_booking(client, salon, "2027-05-06 10:00")
    token = created["manage_token"]
    for response in (
        client.get(f"/m/{token}"),
        client.get(f"/m/{token}/reschedule"),
        client.post(f"/m/{token}/cancel", data={}),
    ):
        assert "Set-Cookie" not in response.headers
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    html = client.get(f"/m/{token}").text
    assert "http://" not in html.replace("http://bookme.test", "") and "https://" not in html


def test_the_token_never_reaches_a_log_line(client, salon, caplog):
    created = public_booking(client, salon, "2027-05-06 10:00")
    token = created["manage_token"]
    with caplog.at_level(logging.INFO, logger="bookme.request"):
        client.get(f"/m/{token}")
    lines = [r.getMessage() for r in caplog.records]
    assert "GET /m/<token> 200" in lines
    assert not [line for line in lines if token in line]


def test_gunicorn_access_logs_redact_the_token_and_a_referer_carrying_it():
    assert redact_uri("/m/abcdefghijklmnopqrstuvwxyz012345/cancel?lang=ar") == (
        "/m/<token>/cancel?lang=ar"
    )
    assert redact_uri("https://bookme.ma/m/abcdefghijklmnopqrstuvwxyz012345") == (
        "https://bookme.ma/m/<token>"
    )
    assert redact_uri("/admin/bookings?q=x") == "/admin/bookings?q=x"
    assert redact_uri("-") == "-"


def test_the_gunicorn_logger_writes_the_redacted_request_line():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from bookme.manage.accesslog import RedactingLogger

    logger = RedactingLogger(Config())
    token = "abcdefghijklmnopqrstuvwxyz012345"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/m/{token}?lang=fr",
        "PATH_INFO": f"/m/{token}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://bookme.ma/m/{token}/reschedule",
    }
    request = SimpleNamespace(headers=[("REFERER", f"https://bookme.ma/m/{token}")])
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = logger.atoms(response, request, environ, SimpleNamespace(seconds=0, microseconds=5))
    assert token not in repr(atoms)
    assert atoms["r"] == "GET /m/<token>?lang=fr HTTP/1.1"
