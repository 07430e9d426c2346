"""Sending through real clients to local servers: Twilio SDK → fake Twilio, smtplib → aiosmtpd.

Jobs run in the test's transaction (`drain`, `tick`); the provider calls are real HTTP and
SMTP on loopback. Exactly-once is checked at the provider: what the fake received.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from bookme.communications import delivery
from bookme.communications.channels import Message
from bookme.communications.channels.email import EmailChannel
from bookme.communications.channels.sms import SmsChannel
from bookme.core import clock, tenancy
from bookme.core.db import session
from bookme.customers.models import ConsentEvent, Customer
from tests.communications.conftest import (
    EMAIL,
    NOW,
    PHONE,
    SMS_FROM,
    WHATSAPP_FROM,
    drain,
    due,
    rows,
    tick,
    work,
)

STARTS = datetime(2027, 5, 4, 9, 0, tzinfo=UTC)


def _confirmation(booking):
    return rows(booking["id"], event="booking_confirmed")[0]


def test_a_confirmation_goes_out_once_by_sms_with_its_provider_id(api, providers):
    twilio, _ = providers
    booking = api.book()
    assert drain() == 1
    [sent] = twilio.snapshot()
    assert (sent["to"], sent["from"]) == (PHONE, SMS_FROM)
    assert "c'est confirmé !" in sent["body"] and "mardi 4 mai 2027 à 10:00" in sent["body"]
    assert "http://bookme.test/m/" in sent["body"]
    callback = urlsplit(sent["status_callback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        "http://bookme.test/webhooks/twilio/status"
    )
    row = _confirmation(booking)
    assert parse_qs(callback.query) == {
        "tenant": [api.salon.tenant.slug],
        "notification": [str(row.id)],
    }
    assert (row.status, row.provider, row.provider_message_id, row.sent_at, row.attempts) == (
        "sent",
        "twilio",
        sent["sid"],
        NOW,
        1,
    )
    assert row.claimed_until is None and row.in_doubt_since is None
    assert due(row.id) == ("poll", NOW + timedelta(minutes=15))
    # Replies from this number now find this tenant.
    recipient = session().execute(
        sa.text("SELECT tenant_id, notification_id FROM public.notification_recipients "
                "WHERE channel = 'sms' AND address = :a"), {"a": PHONE},
    ).one()  # fmt: skip
    assert recipient == (tenancy.require().id, row.id)
    assert drain() == 0 and tick() == 0
    assert len(twilio.snapshot()) == 1


def test_an_email_has_text_and_html_parts_and_a_message_id_from_the_notification(api, providers):
    _, mailbox = providers
    api.put("/notification-settings", {"email_from_name": "Salon Yasmine"})
    booking = api.book(phone=None, email=EMAIL, locale="ar")
    drain()
    [received] = mailbox.take(1)
    row = _confirmation(booking)
    message = received.message
    assert message["Message-ID"] == f"<{row.id.hex}@bookme.test>"
    assert message["From"] == "Salon Yasmine <bookings@bookme.test>"
    assert message["To"] == EMAIL and message["Content-Language"] == "ar"
    assert message["Subject"] == "تأكيد موعدك: الثلاثاء، 4 ماي 2027 على الساعة 10:00"
    assert "يسعدنا تأكيد موعدك لدى Salon Test" in received.text
    assert (
        '<html lang="ar" dir="rtl">' in received.html
        and '<a href="http://bookme.test/m/' in received.html
    )
    assert (row.status, row.provider, row.provider_message_id) == (
        "sent",
        "smtp",
        f"{row.id.hex}@bookme.test",
    )
    assert due(row.id) is None  # email has no delivery status to wait for


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("Salma\r\nX-Evil: 1", "Hi {{ customer_name }}"),
        ("Salma", "Hi {{ customer_name }}\r\nX-Evil: 1"),
    ],
    ids=["in-the-data", "in-the-template"],
)
def test_a_line_break_in_a_subject_becomes_a_space_and_the_email_goes_out(
    api, providers, name, subject
):
    _, mailbox = providers
    api.put("/notification-settings", {"events": {"booking_reminder": False}})
    api.put("/notification-templates/booking_confirmed/email/fr", {"subject": subject, "body": "x"})
    booking = api.book(phone=None, email=EMAIL)
    # The customers API collapses whitespace in names; the outbox must not rely on it.
    customer = session().get(Customer, uuid.UUID(booking["customer_id"]))
    customer.full_name = name
    session().flush()
    drain()
    [received] = mailbox.take(1)
    assert received.message["Subject"] == "Hi Salma X-Evil: 1"
    assert "X-Evil" not in received.message
    row = _confirmation(booking)
    assert (row.status, row.attempts, row.error) == ("sent", 1, None)


def test_email_headers_built_from_data_are_single_lines(app, providers):
    _, mailbox = providers
    channel = EmailChannel(app.config["BOOKME"], timeout=5)
    message = Message(
        notification_id=uuid.uuid4(),
        channel="email",
        to=EMAIL,
        sender=None,
        text="Bonjour",
        subject="Rendez-vous\u2028confirmé\nBcc: evil@example.com",
        sender_name="Salon\r\nReply-To: evil@example.com",
    )
    channel.send(message)
    [received] = mailbox.take(1)
    assert received.message["Subject"] == "Rendez-vous confirmé Bcc: evil@example.com"
    [sender] = received.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Salon Reply-To: evil@example.com",
        "bookings@bookme.test",
    )
    assert "Bcc" not in received.message and "Reply-To" not in received.message
    assert received.rcpt_tos == [EMAIL]


@pytest.mark.parametrize(
    ("where", "attempts", "detail"),
    [
        ("build", 0, "The email could not be built: "),
        ("send", 1, "The email could not be sent: ValueError: "),
    ],
)
def test_an_email_bookme_cannot_send_fails_at_once_instead_of_being_retried(
    api, providers, monkeypatch, where, attempts, detail
):
    _, mailbox = providers

    def broken(*args, **kwargs):
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    if where == "build":
        monkeypatch.setattr(EmailChannel, "build", broken)
    else:
        monkeypatch.setattr("bookme.core.mail.send_message", broken)
    api.put("/notification-settings", {"events": {"booking_reminder": False}})
    booking = api.book(phone=None, email=EMAIL)
    drain()
    row = _confirmation(booking)
    assert (row.status, row.error, row.attempts, row.failed_at) == (
        "failed",
        "invalid_message",
        attempts,
        NOW,
    )
    assert row.error_detail.startswith(detail)
    assert row.next_attempt_at is None and due(row.id) is None
    with clock.frozen(NOW + timedelta(hours=2)):
        assert tick() == 0
    assert _confirmation(booking).status == "failed" and mailbox.messages == []


def test_without_provider_settings_messages_are_logged_by_the_console_provider(api, caplog):
    booking = api.book()
    with caplog.at_level("INFO", logger="bookme.notifications.console"):
        drain()
    row = _confirmation(booking)
    assert (row.status, row.provider) == ("sent", "console")
    assert "c'est confirmé" in caplog.text and PHONE in caplog.text


def test_a_reminder_goes_out_at_its_time_and_not_before(api, providers):
    twilio, _ = providers
    booking = api.book()
    drain()
    reminder = rows(booking["id"], reminder_offset_minutes=1440)[0]
    with clock.frozen(reminder.scheduled_for - timedelta(seconds=1)):
        assert tick() == 0
    with clock.frozen(reminder.scheduled_for):
        assert tick() == 1
    reminder = rows(booking["id"], reminder_offset_minutes=1440)[0]
    assert reminder.status == "sent" and reminder.sent_at == reminder.scheduled_for
    assert "Rappel Salon Test" in twilio.snapshot()[-1]["body"]
    assert len(twilio.snapshot()) == 2


def test_temporary_failures_retry_with_backoff_then_succeed(api, providers):
    twilio, _ = providers
    twilio.fail_next(2, status=503)
    booking = api.book()
    drain()
    row = _confirmation(booking)
    assert (row.status, row.error, row.attempts) == ("queued", "503", 1)
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    with clock.frozen(NOW + timedelta(seconds=29)):
        assert tick() == 0
    with clock.frozen(NOW + timedelta(seconds=30)):
        tick()
    row = _confirmation(booking)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "queued",
        2,
        NOW + timedelta(seconds=90),
    )
    with clock.frozen(NOW + timedelta(seconds=90)):
        tick()
    row = _confirmation(booking)
    assert (row.status, row.attempts, row.error) == ("sent", 3, None)
    assert len(twilio.snapshot()) == 1


def test_the_backoff_meets_the_documented_schedule():
    waits = [delivery.backoff(n) for n in range(1, delivery.MAX_ATTEMPTS)]
    starts = [timedelta(0)]
    for wait in waits:
        starts.append(starts[-1] + wait)
    assert starts[1] <= timedelta(minutes=1)  # first retry within a minute
    assert starts[2] <= timedelta(minutes=4)  # third attempt within 4 minutes
    assert delivery.MAX_ATTEMPTS >= 5 and starts[-1] >= timedelta(minutes=30)


def test_a_provider_that_keeps_failing_ends_failed_after_the_last_attempt(api, providers):
    twilio, _ = providers
    twilio.fail_next(100, status=500, code=20500)
    api.put("/notification-settings", {"events": {"booking_reminder": False}})
    booking = api.book()
    drain()
    at = NOW
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        row = _confirmation(booking)
        assert row.status == "queued"
        at = row.next_attempt_at
        with clock.frozen(at):
            tick()
    row = _confirmation(booking)
    assert (row.status, row.error, row.attempts) == ("failed", "20500", delivery.MAX_ATTEMPTS)
    assert at - NOW >= timedelta(minutes=30)
    assert twilio.calls["create"] == delivery.MAX_ATTEMPTS and twilio.snapshot() == []


def test_a_permanent_failure_fails_at_once_with_the_provider_code_and_can_be_retried(
    api, providers
):
    twilio, _ = providers
    twilio.fail_recipient(PHONE, code=21211, message="Invalid 'To' Phone Number")
    booking = api.book()
    drain()
    row = _confirmation(booking)
    assert (row.status, row.error, row.attempts) == ("failed", "21211", 1)
    assert "Invalid 'To' Phone Number" in row.error_detail
    assert due(row.id) is None and tick() == 0
    conflict = api.post(
        f"/notifications/{rows(booking['id'], event='booking_reminder')[0].id}/retry"
    )
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "invalid_transition"
    twilio.reset()
    retried = api.post(f"/notifications/{row.id}/retry")
    assert retried.status_code == 202
    assert retried.get_json()["status"] == "queued" and retried.get_json()["id"] == str(row.id)
    drain()
    row = _confirmation(booking)
    assert (row.status, row.attempts, row.error) == ("sent", 2, None)
    assert len(twilio.snapshot()) == 1


def test_a_manual_retry_is_sent_by_the_job_it_enqueues_not_by_the_dispatcher(api, providers):
    twilio, _ = providers
    twilio.fail_recipient(PHONE, code=21211, message="Invalid 'To' Phone Number")
    booking = api.book()
    work()
    row = _confirmation(booking)
    assert (row.status, row.attempts) == ("failed", 1)
    twilio.reset()
    later = NOW + timedelta(minutes=5)
    with clock.frozen(later):
        assert api.post(f"/notifications/{row.id}/retry").status_code == 202
        assert due(row.id).due_at > later  # the dispatcher's copy, for a lost job
        work()
    row = _confirmation(booking)
    [message] = twilio.snapshot()
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, later)
    assert row.provider_message_id == message["sid"]


def test_an_opted_out_number_withdraws_the_channel_consent(api, providers):
    twilio, _ = providers
    twilio.fail_recipient(PHONE, code=21610, message="Attempt to send to unsubscribed recipient")
    booking = api.book(email=EMAIL)
    drain()
    row = _confirmation(booking)
    assert (row.status, row.error) == ("failed", "21610")
    customer = session().get(Customer, row.customer_id, populate_existing=True)
    assert (customer.consent_sms, customer.consent_sms_source) == (False, "reply")
    history = (
        session()
        .scalars(sa.select(ConsentEvent).where(ConsentEvent.customer_id == customer.id))
        .all()
    )
    assert [(h.channel, h.granted, h.source) for h in history] == [("sms", False, "reply")]
    # The next message about this booking goes by email.
    api.post(f"/bookings/{booking['id']}/reschedule", {"starts_at": "2027-05-04T11:00:00+01:00"})
    assert rows(booking["id"], event="booking_rescheduled")[0].channel == "email"
    _, mailbox = providers
    drain()
    mailbox.take(1)


def test_a_whatsapp_user_that_is_not_falls_back_to_sms(api, providers):
    twilio, _ = providers
    api.put(
        "/notification-templates/booking_confirmed/whatsapp/fr",
        {
            "body": "Confirmé",
            "content_sid": "HX" + "1" * 32,
            "content_variables": ["customer_name", "date", "time"],
        },
    )
    twilio.fail_recipient(
        f"whatsapp:{PHONE}", code=63003, message="Channel could not find To address"
    )
    booking = api.book()
    drain()
    failed, fallback = rows(booking["id"], event="booking_confirmed")
    assert (failed.channel, failed.status, failed.error) == ("whatsapp", "failed", "63003")
    assert (fallback.channel, fallback.status, fallback.fallback_of) == ("sms", "sent", failed.id)
    [sms] = twilio.snapshot()
    assert sms["to"] == PHONE and "c'est confirmé" in sms["body"]


def test_whatsapp_outside_the_window_sends_the_approved_template_with_its_variables(api, providers):
    twilio, _ = providers
    api.put(
        "/notification-templates/booking_confirmed/whatsapp/fr",
        {
            "body": "Confirmé",
            "content_sid": "HX" + "2" * 32,
            "content_variables": ["customer_name", "date", "time"],
        },
    )
    booking = api.book()
    drain()
    [message] = twilio.snapshot()
    assert (message["to"], message["from"]) == (f"whatsapp:{PHONE}", f"whatsapp:{WHATSAPP_FROM}")
    assert message["content_sid"] == "HX" + "2" * 32
    assert json.loads(message["content_variables"]) == {
        "1": "Salma Bennani",
        "2": "mardi 4 mai 2027",
        "3": "10:00",
    }
    assert _confirmation(booking).status == "sent"


def test_a_call_whose_answer_was_lost_is_looked_up_and_never_sent_twice(api, providers):
    twilio, _ = providers
    twilio.fail_next(1, drop=True)  # Twilio takes the message, the connection drops
    booking = api.book()
    drain()
    row = _confirmation(booking)
    assert (row.status, row.error, row.in_doubt_since) == ("queued", "network", NOW)
    assert len(twilio.snapshot()) == 1
    with clock.frozen(row.next_attempt_at):
        tick()
    row = _confirmation(booking)
    [message] = twilio.snapshot()
    assert (row.status, row.provider_message_id, row.in_doubt_since) == (
        "sent",
        message["sid"],
        None,
    )
    assert row.attempts == 1  # one send call: the second attempt only looked it up
    assert twilio.calls["create"] == 1 and twilio.calls["list"] == 1


def _crash_after_claim(tenant, notification_id, *, provider_took_it: bool, twilio) -> None:
    """A worker claims the row, maybe gets it to Twilio, and dies before recording anything."""
    claimed = delivery.claim(tenant=tenant, ids=[notification_id], now=NOW)
    assert [c.id for c in claimed] == [notification_id]
    if provider_took_it:
        plan = delivery.prepare(tenant, claimed, NOW)[0]
        plan.channel.send(plan.message)


@pytest.mark.parametrize("provider_took_it", [True, False])
def test_a_worker_killed_mid_send_is_reconciled_after_its_lease(api, providers, provider_took_it):
    twilio, _ = providers
    booking = api.book()
    from bookme.core.tasks import queue

    queue().empty()  # the enqueued job dies with the worker
    row = _confirmation(booking)
    _crash_after_claim(tenancy.require(), row.id, provider_took_it=provider_took_it, twilio=twilio)
    lease_end = NOW + timedelta(seconds=120)
    assert due(row.id) == ("send", lease_end)
    with clock.frozen(lease_end - timedelta(seconds=1)):
        assert tick() == 0
    with clock.frozen(lease_end):
        assert tick() == 1
    row = _confirmation(booking)
    [message] = twilio.snapshot()
    assert (row.status, row.provider_message_id) == ("sent", message["sid"])
    assert row.attempts == 1


def test_a_row_claimed_too_late_to_finish_within_its_lease_goes_back_untried(api, providers):
    booking = api.book()
    row = _confirmation(booking)
    tenant = tenancy.require()
    claimed = delivery.claim(tenant=tenant, ids=[row.id], now=NOW)
    plan = delivery.prepare(tenant, claimed, NOW)[0]
    outcome = delivery.attempt(plan, deadline=0.0)
    assert outcome.kind == "released"
    delivery.record(tenant=tenant, outcomes=[outcome], now=NOW)
    row = _confirmation(booking)
    assert (row.status, row.attempts, row.in_doubt_since) == ("queued", 0, None)
    assert providers[0].snapshot() == []


def test_a_message_left_in_sent_is_polled_for_its_status(api, providers):
    twilio, _ = providers
    booking = api.book()
    drain()
    row = _confirmation(booking)
    twilio.set_status(row.provider_message_id, "delivered")
    with clock.frozen(NOW + timedelta(minutes=14)):
        tick()
    assert _confirmation(booking).status == "sent"
    with clock.frozen(NOW + timedelta(minutes=15)):
        tick()
    row = _confirmation(booking)
    assert (row.status, row.delivered_at) == ("delivered", NOW + timedelta(minutes=15))
    assert due(row.id) is None


def test_an_undelivered_message_found_by_polling_fails_with_the_carrier_code(api, providers):
    twilio, _ = providers
    booking = api.book()
    drain()
    row = _confirmation(booking)
    twilio.set_status(row.provider_message_id, "undelivered", 30003)
    with clock.frozen(NOW + timedelta(minutes=15)):
        tick()
    row = _confirmation(booking)
    assert (row.status, row.error) == ("failed", "30003")


def test_a_reminder_24_hours_before_a_dst_day_appointment_goes_out_at_the_right_instant(
    api, providers
):
    twilio, _ = providers
    # Casablanca moves from UTC+0 to UTC+1 at 02:00 UTC on 14 March 2027.
    with clock.frozen(datetime(2027, 3, 10, 9, 0, tzinfo=UTC)):
        booking = api.book("2027-03-14T10:00:00+01:00")
        drain()
    reminder = rows(booking["id"], reminder_offset_minutes=1440)[0]
    exact = datetime(2027, 3, 13, 9, 0, tzinfo=UTC)  # 09:00 local on the 13th (UTC+0)
    assert reminder.scheduled_for == exact
    with clock.frozen(exact - timedelta(seconds=1)):
        assert tick() == 0
    with clock.frozen(exact + timedelta(seconds=59)):
        assert tick() == 1
    body = twilio.snapshot()[-1]["body"]
    assert "dimanche 14 mars 2027" in body and "10:00" in body


def test_the_dispatcher_never_hands_out_a_row_twice_while_its_job_may_run(api):
    booking = api.book()
    reminder = rows(booking["id"], reminder_offset_minutes=1440)[0]
    from bookme.core.tasks import queue

    queue().empty()
    at = reminder.scheduled_for
    first = delivery.take_due(now=at, limit=100)
    assert reminder.id in [e.notification_id for e in first]
    assert delivery.take_due(now=at + timedelta(seconds=59), limit=100) == []
    again = delivery.take_due(now=at + timedelta(seconds=60), limit=100)  # the job was lost
    assert reminder.id in [e.notification_id for e in again]


def test_the_outbox_lists_filter_and_paginate(api, providers):
    first = api.book("2027-05-04T10:00:00+01:00")
    api.book("2027-05-04T11:00:00+01:00", phone="+212600000009", full_name="Omar")
    drain()
    everything = api.get("/notifications")
    assert everything.status_code == 200 and len(everything.get_json()) == 6
    assert json.loads(everything.headers["X-Pagination"])["total"] == 6
    sent = api.get("/notifications", status="sent").get_json()
    assert len(sent) == 2 and {n["event"] for n in sent} == {"booking_confirmed"}
    item = sent[0]
    assert set(item) >= {
        "id",
        "event",
        "channel",
        "to",
        "status",
        "scheduled_for",
        "sent_at",
        "delivered_at",
        "attempts",
        "error",
        "provider_message_id",
        "booking_id",
        "customer_id",
        "created_at",
    }
    assert item["sent_at"].endswith("+01:00")  # the tenant's offset
    page = api.get("/notifications", page=2, page_size=4).get_json()
    assert len(page) == 2
    assert api.get("/notifications", page_size=101).status_code == 422
    assert api.get("/notifications", status="exploded").status_code == 422
    for_one = api.get(f"/bookings/{first['id']}/notifications").get_json()
    assert len(for_one) == 3 and {n["booking_id"] for n in for_one} == {first["id"]}
    assert api.get(f"/bookings/{uuid.uuid4()}/notifications").status_code == 404
    assert api.post(f"/notifications/{uuid.uuid4()}/retry").status_code == 404


def test_a_tenant_template_is_what_goes_out(api, providers):
    twilio, _ = providers
    api.put(
        "/notification-templates/booking_confirmed/sms/fr",
        {"body": "OK {{ customer_name }} {{ time }}"},
    )
    api.book()
    drain()
    assert twilio.snapshot()[0]["body"] == "OK Salma Bennani 10:00"


def test_twilio_api_base_is_where_the_sdk_goes(app, fake_twilio):
    settings = dataclasses.replace(
        app.config["BOOKME"],
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base=fake_twilio.url,
    )
    channel = SmsChannel(settings, timeout=5)
    message = Message(
        notification_id=uuid.uuid4(), channel="sms", to=PHONE, sender=SMS_FROM, text="x"
    )
    sent = channel.send(message)
    assert fake_twilio.snapshot()[0]["sid"] == sent.provider_message_id
    assert channel.fetch_status(sent.provider_message_id).status == "sent"
