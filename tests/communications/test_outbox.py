"""Writing the outbox with the booking change: which rows, which channel, when."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bookme.communications.models import NotificationReply
from bookme.core import tenancy
from bookme.core.db import session
from tests.communications.conftest import EMAIL, NOW, PHONE, due, rows

STARTS = datetime(2027, 5, 4, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Casablanca


def test_a_confirmed_booking_writes_its_confirmation_and_one_reminder_per_offset(api):
    booking = api.book()
    confirmation, *reminders = rows(booking["id"])
    assert (confirmation.event, confirmation.status, confirmation.channel, confirmation.to) == (
        "booking_confirmed",
        "queued",
        "sms",
        PHONE,
    )
    assert confirmation.locale == "fr" and confirmation.attempts == 0
    assert [(r.event, r.status, r.reminder_offset_minutes, r.scheduled_for) for r in reminders] == [
        ("booking_reminder", "scheduled", 1440, STARTS - timedelta(minutes=1440)),
        ("booking_reminder", "scheduled", 120, STARTS - timedelta(minutes=120)),
    ]
    # Each has due work in the public index; the confirmation is also enqueued right away.
    assert due(reminders[0].id) == ("send", STARTS - timedelta(minutes=1440))
    assert due(confirmation.id).kind == "send"
    from bookme.core.tasks import queue

    jobs = queue().jobs
    assert [j.kwargs for j in jobs] == [
        {"tenant": api.salon.tenant.slug, "ids": [str(confirmation.id)]}
    ]


def test_reminders_whose_time_has_passed_are_not_written(api):
    booking = api.book("2027-05-03T11:30:00+01:00")  # in 2.5 hours: the 24 h reminder is past
    assert [(r.event, r.reminder_offset_minutes) for r in rows(booking["id"])] == [
        ("booking_confirmed", None),
        ("booking_reminder", 120),
    ]


def test_nothing_is_written_when_the_booking_fails(api):
    api.book()
    response = api.client.post(
        "/api/v1/bookings",
        json={
            "service_id": str(api.salon.service.id),
            "staff_id": str(api.salon.nadia.id),
            "starts_at": "2027-05-04T10:00:00+01:00",
            "customer": {"full_name": "Omar", "phone": "+212611111111"},
        },
        headers=api.headers,
    )
    assert response.status_code == 409
    assert len(rows()) == 3


def test_the_channel_is_the_first_with_an_address_and_consent(api):
    no_phone = api.book("2027-05-04T10:00:00+01:00", phone=None, email=EMAIL)
    assert rows(no_phone["id"], event="booking_confirmed")[0].channel == "email"
    refused_sms = api.book(
        "2027-05-04T11:00:00+01:00",
        phone="+212600000002",
        email="b@example.com",
        full_name="Samir",
        consents={"sms": False},
    )
    row = rows(refused_sms["id"], event="booking_confirmed")[0]
    assert (row.channel, row.to) == ("email", "b@example.com")


def test_no_reachable_channel_is_skipped_with_no_channel(api):
    api.put("/notification-settings", {"channels": ["sms"]})
    booking = api.book(phone=None, email=EMAIL)
    skipped = rows(booking["id"], event="booking_confirmed")[0]
    assert (skipped.status, skipped.channel, skipped.error) == ("skipped", None, "no_channel")
    assert due(skipped.id) is None


def test_whatsapp_needs_an_approved_template_outside_the_24_hour_window(api):
    first = api.book("2027-05-04T10:00:00+01:00")
    assert rows(first["id"], event="booking_confirmed")[0].channel == "sms"
    api.put(
        "/notification-templates/booking_confirmed/whatsapp/fr",
        {
            "body": "Confirmé {{ date }}",
            "content_sid": "HX" + "0" * 32,
            "content_variables": ["date", "time"],
        },
    )
    second = api.book("2027-05-04T11:00:00+01:00")
    assert rows(second["id"], event="booking_confirmed")[0].channel == "whatsapp"
    # The reminders have no approved template: they go by SMS.
    assert {r.channel for r in rows(second["id"], event="booking_reminder")} == {"sms"}


def test_whatsapp_free_text_is_used_inside_the_window_the_customer_opened(api):
    first = api.book("2027-05-04T10:00:00+01:00")
    customer_id = rows(first["id"])[0].customer_id
    session().add(
        NotificationReply(
            message_sid="SM" + uuid.uuid4().hex,
            channel="whatsapp",
            customer_id=customer_id,
            body="Merci",
            action="unknown",
            outcome="help",
            received_at=NOW - timedelta(hours=2),
        )
    )
    session().flush()
    second = api.book("2027-05-04T11:00:00+01:00")
    by_event = {(r.event, r.reminder_offset_minutes): r.channel for r in rows(second["id"])}
    # The window closes 22 h from now: the confirmation and the 24 h reminder (due in 2 h)
    # fit in it, the 2 h reminder (due tomorrow at 09:00) does not.
    assert by_event == {
        ("booking_confirmed", None): "whatsapp",
        ("booking_reminder", 1440): "whatsapp",
        ("booking_reminder", 120): "sms",
    }


def test_an_unconfigured_channel_in_production_is_skipped(api, app, monkeypatch):
    monkeypatch.setitem(
        app.config, "BOOKME", dataclasses.replace(app.config["BOOKME"], env="production")
    )
    booking = api.book(email=EMAIL)
    confirmation = rows(booking["id"], event="booking_confirmed")[0]
    assert (confirmation.status, confirmation.error) == ("skipped", "channel_not_configured")


def test_disabled_events_write_nothing(api):
    api.put("/notification-settings", {"events": {"booking_reminder": False}})
    booking = api.book()
    assert [r.event for r in rows(booking["id"])] == ["booking_confirmed"]


def test_rescheduling_retimes_waiting_reminders_and_announces_the_new_time(api):
    booking = api.book()
    moved = api.post(
        f"/bookings/{booking['id']}/reschedule", {"starts_at": "2027-05-06T15:00:00+01:00"}
    )
    assert moved.status_code == 200, moved.get_json()
    new_start = datetime(2027, 5, 6, 14, 0, tzinfo=UTC)
    reminders = rows(booking["id"], event="booking_reminder")
    assert [(r.status, r.scheduled_for, r.appointment_at) for r in reminders] == [
        ("scheduled", new_start - timedelta(minutes=1440), new_start),
        ("scheduled", new_start - timedelta(minutes=120), new_start),
    ]
    assert due(reminders[0].id).due_at == new_start - timedelta(minutes=1440)
    notice = rows(booking["id"], event="booking_rescheduled")
    assert [(n.status, n.appointment_at) for n in notice] == [("queued", new_start)]


def test_a_reminder_whose_new_time_has_passed_is_cancelled_and_a_new_offset_is_added(api):
    booking = api.book("2027-05-05T10:00:00+01:00")  # both reminders ahead
    api.put("/notification-settings", {"reminder_offsets_minutes": [1440, 120, 30]})
    api.post(f"/bookings/{booking['id']}/reschedule", {"starts_at": "2027-05-03T11:30:00+01:00"})
    reminders = {
        r.reminder_offset_minutes: r.status for r in rows(booking["id"], event="booking_reminder")
    }
    assert reminders == {1440: "cancelled", 120: "scheduled", 30: "scheduled"}


def test_cancelling_cancels_what_has_not_gone_out_and_says_so(api):
    booking = api.book()
    response = api.post(f"/bookings/{booking['id']}/cancel", {"reason": "client malade"})
    assert response.status_code == 200, response.get_json()
    statuses = {(r.event, r.reminder_offset_minutes): r.status for r in rows(booking["id"])}
    assert statuses == {
        ("booking_confirmed", None): "cancelled",
        ("booking_reminder", 1440): "cancelled",
        ("booking_reminder", 120): "cancelled",
        ("booking_cancelled", None): "queued",
    }
    assert all(due(r.id) is None for r in rows(booking["id"]) if r.status == "cancelled")


def test_erasing_the_customer_scrubs_addresses_and_stops_pending_messages(api):
    booking = api.book()
    customer_id = rows(booking["id"])[0].customer_id
    assert api.post(f"/customers/{customer_id}/erase").status_code == 204
    assert {(r.status, r.to) for r in rows(booking["id"])} == {("cancelled", None)}
    assert (
        session().scalar(
            sa.text("SELECT count(*) FROM public.notification_due WHERE tenant_id = :t"),
            {"t": tenancy.require().id},
        )
        == 0
    )


def _emit_in_transaction(name: str, **payload) -> None:
    from bookme.core import events
    from bookme.core.db import transactional

    transactional(lambda: events.emit(name, **payload))()


def test_each_payment_and_refund_gets_its_own_notice(api):
    from types import SimpleNamespace

    from bookme.bookings.models import Booking

    booking = api.book()
    row = session().get(Booking, uuid.UUID(booking["id"]))
    tenant = tenancy.require()
    deposit, balance = SimpleNamespace(id=uuid.uuid4()), SimpleNamespace(id=uuid.uuid4())
    for payment in (deposit, balance, deposit):  # a repeated event writes nothing more
        _emit_in_transaction(
            "payment.succeeded", payment=payment, booking=row, tenant=tenant, now=NOW
        )
    refund = SimpleNamespace(id=uuid.uuid4())
    _emit_in_transaction(
        "payment.refunded", payment=deposit, refund=refund, booking=row, tenant=tenant, now=NOW
    )
    receipts = rows(booking["id"], event="payment_receipt")
    assert sorted(r.reference_id for r in receipts) == sorted([deposit.id, balance.id])
    assert {(r.status, r.channel) for r in receipts} == {("queued", "sms")}
    [refunded] = rows(booking["id"], event="payment_refunded")
    assert refunded.reference_id == refund.id


def test_the_customer_export_includes_their_messages(api):
    booking = api.book()
    customer_id = rows(booking["id"])[0].customer_id
    response = api.get(f"/customers/{customer_id}/export")
    assert response.status_code == 200
    section = response.get_json()["sections"]["notifications"]
    assert [(m["event"], m["channel"], m["to"]) for m in section["messages"]] == [
        ("booking_confirmed", "sms", PHONE),
        ("booking_reminder", "sms", PHONE),
        ("booking_reminder", "sms", PHONE),
    ]
    assert section["replies"] == []


def test_every_value_of_a_written_row_reads_back_as_given(api):
    """The rows reach PostgreSQL as one JSON document: ids, instants in any zone (to the
    microsecond), NULLs and text that needs escaping all come back unchanged."""
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from bookme.bookings.models import Booking
    from bookme.communications import outbox
    from bookme.communications.models import Notification

    booking = session().get(Booking, uuid.UUID(api.book()["id"]))
    confirmation = rows(booking.id, event="booking_confirmed")[0]
    odd_address = "zoé.'o\"\\\u2028Ω@exämple.ma"
    customer = SimpleNamespace(
        id=booking.customer_id, phone=PHONE, email=odd_address, locale="ar", is_active=True,
        consent_sms=True, consent_whatsapp=None, consent_email=True,
    )  # fmt: skip
    at = datetime(2027, 5, 3, 17, 45, 12, 345678, tzinfo=ZoneInfo("Africa/Casablanca"))
    reference = uuid.uuid4()
    prefs, own = outbox.preferences_and_whatsapp_templates()
    written = outbox.write_many(
        tenant=tenancy.require(), booking=booking, customer=customer,
        specs=[
            outbox.Spec("booking_reminder", 59, at, fallback_of=confirmation.id),
            outbox.Spec("payment_receipt", reference_id=reference, exclude=("sms", "whatsapp")),
            outbox.Spec("payment_refunded", exclude=("sms", "whatsapp", "email")),
        ],
        now=NOW, prefs=prefs, own_templates=own,
    )  # fmt: skip
    assert [w.status for w in written] == ["scheduled", "queued", "skipped"]
    reminder, receipt, skipped = (session().get(Notification, w.id) for w in written)
    assert (reminder.scheduled_for, reminder.reminder_offset_minutes) == (at, 59)
    assert (reminder.fallback_of, reminder.reference_id, reminder.locale) == (
        confirmation.id, None, "ar",
    )  # fmt: skip
    assert (reminder.channel, reminder.to) == ("sms", PHONE)
    assert due(reminder.id) == ("send", at)
    assert (receipt.channel, receipt.to, receipt.reference_id) == ("email", odd_address, reference)
    assert receipt.scheduled_for == NOW and receipt.fallback_of is None
    assert (skipped.channel, skipped.to, skipped.error) == (None, None, "no_channel")
    assert skipped.error_detail == "The customer has no reachable channel with consent."
    assert due(skipped.id) is None
