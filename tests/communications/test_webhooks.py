"""Twilio webhooks: signatures checked with the SDK's validator, statuses only forward,
two-way replies that confirm, cancel or opt out, each inbound message processed once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from bookme.bookings import service as bookings_service
from bookme.bookings.models import Booking
from bookme.communications import delivery
from bookme.core import tenancy
from bookme.core.db import session
from bookme.customers.models import ConsentEvent, Customer
from tests.communications.conftest import NOW, PHONE, drain, rows, sign, work

BASE = "http://bookme.test"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def post_signed(client: Any, token: str, path: str, form: dict[str, str], query: str = "") -> Any:
    url = f"{BASE}{path}" + (f"?{query}" if query else "")
    return client.post(
        path + (f"?{query}" if query else ""),
        data=form,
        headers={"X-Twilio-Signature": sign(url, form, token)},
    )


def status_callback(
    client: Any, twilio: Any, row: Any, status: str, error: str | None = None
) -> Any:
    sid = row.provider_message_id or "SM" + uuid.uuid4().hex
    form = {"MessageSid": sid, "MessageStatus": status,
            "AccountSid": twilio.account_sid}  # fmt: skip
    if error:
        form["ErrorCode"] = error
    query = f"tenant={tenancy.require().slug}&notification={row.id}"
    return post_signed(client, twilio.auth_token, "/webhooks/twilio/status", form, query)


def reply(client: Any, twilio: Any, body: str, sender: str = PHONE, sid: str | None = None) -> Any:
    form = {
        "From": sender, "To": "+212522000000", "Body": body,
        "MessageSid": sid or f"SM{uuid.uuid4().hex}", "AccountSid": twilio.account_sid,
    }  # fmt: skip
    response = post_signed(client, twilio.auth_token, "/webhooks/twilio/inbound", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    return response.get_data(as_text=True)


def message_of(twiml: str) -> str:
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'), twiml
    return twiml.split("<Message>")[1].split("</Message>", maxsplit=1)[0]


def booking_row(booking_id: Any) -> Booking:
    return session().get(Booking, uuid.UUID(str(booking_id)), populate_existing=True)


@pytest.fixture
def sent_booking(api, providers):
    """A confirmed booking whose confirmation went out by SMS."""
    booking = api.book()
    drain()
    return booking


# --- signatures -------------------------------------------------------------------------------


def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(
    api, client, providers, sent_booking
):
    twilio, _ = providers
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    query = f"tenant={tenancy.require().slug}&notification={row.id}"
    form = {"MessageSid": row.provider_message_id, "MessageStatus": "delivered"}
    path = "/webhooks/twilio/status?" + query
    missing = client.post(path, data=form)
    wrong = client.post(path, data=form, headers={"X-Twilio-Signature": "bm90IGl0"})
    other_url = client.post(
        path,
        data=form,
        headers={
            "X-Twilio-Signature": sign(f"{BASE}/webhooks/twilio/status", form, twilio.auth_token)
        },
    )
    other_token = client.post(
        path,
        data=form,
        headers={"X-Twilio-Signature": sign(f"{BASE}{path}", form, "another-token")},
    )
    for response in (missing, wrong, other_url, other_token):
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "invalid_signature"
    inbound = client.post(
        "/webhooks/twilio/inbound", data={"From": PHONE, "Body": "2", "MessageSid": "SMx"}
    )
    assert inbound.status_code == 400 and inbound.get_json()["code"] == "invalid_signature"
    assert rows(sent_booking["id"], event="booking_confirmed")[0].status == "sent"
    assert booking_row(sent_booking["id"]).status == "confirmed"


def test_an_unknown_tenant_in_a_status_callback_is_not_found(client, providers):
    twilio, _ = providers
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    response = post_signed(
        client,
        twilio.auth_token,
        "/webhooks/twilio/status",
        form,
        f"tenant=no-such-salon&notification={uuid.uuid4()}",
    )
    assert response.status_code == 404 and response.get_json()["code"] == "tenant_not_found"


# --- delivery status --------------------------------------------------------------------------


def test_statuses_only_move_forward(api, client, providers, sent_booking):
    twilio, _ = providers
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    assert status_callback(client, twilio, row, "delivered").status_code == 200
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.delivered_at) == ("delivered", NOW)
    for late in ("sent", "queued", "undelivered", "failed"):
        assert status_callback(client, twilio, row, late).status_code == 200
        assert rows(sent_booking["id"], event="booking_confirmed")[0].status == "delivered"
    status_callback(client, twilio, row, "read")
    status_callback(client, twilio, row, "delivered")  # a retried callback, seen before
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.read_at, row.error) == ("read", NOW, None)


def test_an_undelivered_sms_fails_with_the_carrier_code(api, client, providers, sent_booking):
    twilio, _ = providers
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    status_callback(client, twilio, row, "undelivered", "30003")
    row = rows(sent_booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.error) == ("failed", "30003")
    assert len(rows(sent_booking["id"], event="booking_confirmed")) == 1  # SMS does not fall back


def test_a_whatsapp_message_reported_failed_later_falls_back_to_sms(api, client, providers):
    twilio, _ = providers
    api.put(
        "/notification-templates/booking_confirmed/whatsapp/fr",
        {"body": "Confirmé", "content_sid": "HX" + "3" * 32, "content_variables": ["date"]},
    )
    booking = api.book()
    drain()
    whatsapp = rows(booking["id"], event="booking_confirmed")[0]
    assert (whatsapp.channel, whatsapp.status) == ("whatsapp", "sent")
    status_callback(client, twilio, whatsapp, "undelivered", "63003")
    drain()
    failed, fallback = rows(booking["id"], event="booking_confirmed")
    assert (failed.status, failed.error) == ("failed", "63003")
    assert (fallback.channel, fallback.status, fallback.fallback_of) == ("sms", "sent", failed.id)
    assert [m["to"] for m in twilio.snapshot()] == [f"whatsapp:{PHONE}", PHONE]


def test_a_retry_of_a_message_reported_failed_while_in_doubt_sends_it_again(api, client, providers):
    twilio, _ = providers
    twilio.fail_next(1, drop=True)  # Twilio takes the message, the answer is lost
    booking = api.book()
    work()
    row = rows(booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.in_doubt_since) == ("queued", NOW)
    [lost] = twilio.snapshot()
    lost_row = SimpleNamespace(id=row.id, provider_message_id=lost["sid"])
    status_callback(client, twilio, lost_row, "undelivered", "30003")
    row = rows(booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.error) == ("failed", "30003")
    assert api.post(f"/notifications/{row.id}/retry").status_code == 202
    work()
    row = rows(booking["id"], event="booking_confirmed")[0]
    assert twilio.calls["create"] == 2  # sent again, not matched to the undelivered message
    [_, resent] = twilio.snapshot()
    assert (row.status, row.provider_message_id, row.attempts) == ("sent", resent["sid"], 2)


def test_a_callback_that_beats_the_worker_keeps_its_status_and_the_provider_id(
    api, client, providers
):
    twilio, _ = providers
    booking = api.book()
    row = rows(booking["id"], event="booking_confirmed")[0]
    tenant = tenancy.require()
    claimed = delivery.claim(tenant=tenant, ids=[row.id], now=NOW)
    plan = delivery.prepare(tenant, claimed, NOW)[0]
    outcome = delivery.attempt(plan, deadline=float("inf"))
    sid = outcome.sent.provider_message_id
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    post_signed(client, twilio.auth_token, "/webhooks/twilio/status", form,
                f"tenant={tenant.slug}&notification={row.id}")  # fmt: skip
    assert rows(booking["id"], event="booking_confirmed")[0].status == "delivered"
    delivery.record(tenant=tenant, outcomes=[outcome], now=NOW)
    row = rows(booking["id"], event="booking_confirmed")[0]
    assert (row.status, row.provider_message_id, row.sent_at) == ("delivered", sid, NOW)


# --- replies ----------------------------------------------------------------------------------


@pytest.fixture
def pending(monkeypatch):
    """Bookings start pending (awaiting the business's or the customer's confirmation)."""
    monkeypatch.setattr(bookings_service, "initial_terms", lambda **kw: ("pending", None))


def test_replying_oui_confirms_a_pending_booking_and_answers_in_french(
    api, client, providers, pending
):
    twilio, _ = providers
    booking = api.book()
    drain()
    assert [r.event for r in rows(booking["id"])] == ["booking_created"]
    answer = reply(client, twilio, "Oui !")
    assert (
        message_of(answer)
        == "Merci, votre rendez-vous du mardi 4 mai 2027 à 10:00 est confirmé. À bientôt !"
    )
    assert booking_row(booking["id"]).status == "confirmed"
    assert {r.event for r in rows(booking["id"])} == {
        "booking_created",
        "booking_confirmed",
        "booking_reminder",
    }
    again = reply(client, twilio, "1")
    assert (
        message_of(again)
        == "Votre rendez-vous du mardi 4 mai 2027 à 10:00 est bien confirmé. À bientôt !"
    )


def test_a_booking_awaiting_payment_is_not_confirmed_by_a_reply(
    api, client, providers, monkeypatch
):
    twilio, _ = providers
    monkeypatch.setattr(
        bookings_service,
        "initial_terms",
        lambda **kw: ("pending", kw["now"] + timedelta(minutes=15)),
    )
    booking = api.book()
    drain()
    answer = message_of(reply(client, twilio, "ok"))
    assert answer.startswith(
        "Ce rendez-vous sera confirmé dès réception de votre paiement : http://bookme.test/m/"
    )
    assert booking_row(booking["id"]).status == "pending"


@pytest.mark.parametrize("word", ["2", "annuler", "ANNULER.", "Cancel", "إلغاء", "الغاء", "٢"])
def test_replying_2_cancels_before_the_cutoff_whatever_the_case_accents_or_script(
    api, client, providers, sent_booking, word
):
    twilio, _ = providers
    answer = reply(client, twilio, word)
    assert (
        message_of(answer)
        == "Votre rendez-vous du mardi 4 mai 2027 à 10:00 est annulé. À bientôt !"
    )
    booking = booking_row(sent_booking["id"])
    assert (booking.status, booking.cancellation_reason) == ("cancelled", "sms reply")
    statuses = {(r.event, r.reminder_offset_minutes): r.status for r in rows(sent_booking["id"])}
    assert statuses[("booking_reminder", 1440)] == "cancelled"
    assert statuses[("booking_cancelled", None)] == "queued"


def test_a_cancel_reply_after_the_cutoff_changes_nothing_and_says_why(api, client, providers):
    twilio, _ = providers
    booking = api.book("2027-05-03T15:00:00+01:00")  # in 6 hours; the cutoff is 24 hours
    drain()
    answer = message_of(reply(client, twilio, "ANNULER"))
    assert answer.startswith(
        "Il est trop tard pour annuler en ligne le rendez-vous du lundi 3 mai 2027 à 15:00."
    )
    assert booking_row(booking["id"]).status == "confirmed"


@pytest.mark.parametrize("word", ["STOP", "stop", "Arrêt", "ARRET", "توقف"])
def test_stop_withdraws_the_consent_for_that_channel_with_source_reply(
    api, client, providers, sent_booking, word
):
    twilio, _ = providers
    answer = reply(client, twilio, word)
    assert (
        message_of(answer)
        == "C'est noté : vous ne recevrez plus de messages de notre part sur ce canal."
    )
    customer_id = rows(sent_booking["id"])[0].customer_id
    customer = session().get(Customer, customer_id, populate_existing=True)
    assert (customer.consent_sms, customer.consent_sms_source, customer.consent_whatsapp) == (
        False,
        "reply",
        None,
    )
    [event] = session().scalars(
        sa.select(ConsentEvent).where(ConsentEvent.customer_id == customer_id)
    )
    assert (event.channel, event.granted, event.source) == ("sms", False, "reply")
    assert booking_row(sent_booking["id"]).status == "confirmed"


def test_the_answer_is_in_the_customers_language(api, client, providers):
    twilio, _ = providers
    api.book(locale="ar")
    drain()
    assert (
        message_of(reply(client, twilio, "نعم"))
        == "موعدك الثلاثاء، 4 ماي 2027 على الساعة 10:00 مؤكد. نراك قريبا!"
    )
    assert message_of(reply(client, twilio, "hello?")) == (
        "أرسل 1 لتأكيد موعدك، أو 2 لإلغائه، أو STOP (توقف) لإيقاف الرسائل."
    )


def test_a_message_sid_seen_before_gets_an_empty_answer_and_changes_nothing(
    api, client, providers, sent_booking
):
    twilio, _ = providers
    sid = "SM" + uuid.uuid4().hex
    assert message_of(reply(client, twilio, "STOP", sid=sid))
    customer_id = rows(sent_booking["id"])[0].customer_id
    session().execute(
        sa.update(Customer)
        .where(Customer.id == customer_id)
        .values(consent_sms=True, consent_sms_source="staff", consent_sms_changed_at=NOW)
    )
    assert reply(client, twilio, "STOP", sid=sid) == EMPTY
    assert session().get(Customer, customer_id, populate_existing=True).consent_sms is True


def test_a_reply_from_an_unknown_number_gets_an_empty_answer(client, providers):
    twilio, _ = providers
    assert reply(client, twilio, "2", sender="+212699999999") == EMPTY


def test_a_reply_goes_to_the_booking_of_the_latest_message_on_that_channel(api, client, providers):
    twilio, _ = providers
    first = api.book("2027-05-04T10:00:00+01:00")
    drain()
    second = api.book("2027-05-05T10:00:00+01:00")
    drain()
    message_of(reply(client, twilio, "2"))
    assert booking_row(second["id"]).status == "cancelled"
    assert booking_row(first["id"]).status == "confirmed"


def test_a_whatsapp_reply_opens_the_24_hour_window_for_free_text(api, client, providers):
    twilio, _ = providers
    api.put(
        "/notification-templates/booking_confirmed/whatsapp/fr",
        {"body": "Confirmé", "content_sid": "HX" + "4" * 32, "content_variables": ["date"]},
    )
    api.book("2027-05-04T10:00:00+01:00")
    drain()
    assert message_of(reply(client, twilio, "merci", sender=f"whatsapp:{PHONE}"))
    api.put("/notification-templates/booking_confirmed/whatsapp/fr", {"body": "Libre {{ time }}"})
    second = api.book("2027-05-04T11:00:00+01:00")
    drain()
    assert rows(second["id"], event="booking_confirmed")[0].channel == "whatsapp"
    assert twilio.snapshot()[-1]["body"] == "Libre 11:00"
    assert twilio.snapshot()[-1]["content_sid"] is None


def test_fields_longer_than_twilio_sends_are_refused_after_the_signature(client, providers):
    twilio, _ = providers
    form = {"From": PHONE, "Body": "x" * 1601, "MessageSid": f"SM{uuid.uuid4().hex}"}
    response = post_signed(client, twilio.auth_token, "/webhooks/twilio/inbound", form)
    assert response.status_code == 400 and response.get_json()["code"] == "bad_request"
    assert "Body" in response.get_json()["detail"]
