"""/bookings over HTTP: creating, the one rule for listing and booking, lifecycle, roles."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import Range

from bookme.bookings.models import Booking
from bookme.core import clock
from bookme.core.db import session
from tests.bookings.conftest import NOW, at
from tests.conftest import add_member
from tests.factories import make_service, make_staff, make_time_off, use_tenant


def test_a_member_booking_is_created_confirmed_with_a_price_snapshot(api, salon):
    body = api.created("2027-05-04 10:00", notes="First visit")
    assert body["status"] == "confirmed"
    assert body["source"] == "api"
    assert body["service_id"] == str(salon.service.id)
    assert body["staff_id"] == str(salon.nadia.id)
    assert body["starts_at"] == "2027-05-04T10:00:00+01:00"
    assert body["ends_at"] == "2027-05-04T10:30:00+01:00"
    assert (body["price"], body["currency"]) == ("80.00", "MAD")
    assert body["notes"] == "First visit"
    assert body["created_at"] == "2027-05-03T09:00:00+01:00"
    assert "manage_token" not in body
    fetched = api.get(f"/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == body


def test_payment_fields_say_nothing_is_expected_without_online_payment(api):
    body = api.created()
    assert body["payment_status"] == "none"
    assert body["amount_paid"] == "0.00"
    assert body["amount_due"] == "80.00"
    assert body["payment_due_at"] is None


def test_the_customer_is_found_by_phone_on_the_next_booking(api):
    first = api.created("2027-05-04 10:00")
    second = api.created("2027-05-04 11:00", customer={"full_name": "S. B.", "phone": "0612345678"})
    assert second["customer_id"] == first["customer_id"]


def test_an_existing_customer_can_be_named_by_id(api):
    first = api.created("2027-05-04 10:00")
    second = api.created("2027-05-04 11:00", customer=None, customer_id=first["customer_id"])
    assert second["customer_id"] == first["customer_id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer": None}, "customer"),
        ({"customer_id": "00000000-0000-0000-0000-000000000001"}, "customer"),
        ({"starts_at": "2027-05-04T10:00:00"}, "starts_at"),
        ({"service_id": "not-a-uuid"}, "service_id"),
        ({"status": "confirmed"}, "status"),
        ({"price": "1.00"}, "price"),
        ({"notes": "x" * 2001}, "notes"),
        ({"notes": "a\x00b"}, "notes"),
        ({"customer": {"full_name": "No Contact"}}, "customer"),
    ],
)
def test_bad_bodies_are_refused_field_by_field(api, change, field):
    body = api.body()
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api.client.post("/api/v1/bookings", json=body, headers=api.headers)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert any(key.startswith(field) for key in problem["errors"]), problem["errors"]


def test_an_unknown_service_or_staff_member_is_a_validation_error(api):
    response = api.create(service_id=str(uuid.uuid4()))
    assert response.status_code == 422
    assert "service_id" in response.get_json()["errors"]
    response = api.create(staff_id=str(uuid.uuid4()))
    assert response.status_code == 422
    assert "staff_id" in response.get_json()["errors"]


def test_an_unknown_customer_id_is_not_found(api):
    response = api.create(customer=None, customer_id=str(uuid.uuid4()))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "customer",
    [
        {"full_name": "   ", "phone": "+212622222222"},
        {"full_name": "Salma B.", "phone": "0612"},
        {"full_name": "Salma B.", "email": "not an address"},
    ],
)
def test_the_requests_own_errors_come_before_an_unavailable_time(api, customer):
    api.created("2027-05-04 10:00")
    for starts_at in ("2027-05-04 10:00", "2027-05-04 13:00"):  # taken, then out of hours
        response = api.create(starts_at, customer=customer)
        assert response.status_code == 422, response.get_json()
        assert list(response.get_json()["errors"]) == ["customer"]
    response = api.create("2027-05-04 10:00", customer=None, customer_id=str(uuid.uuid4()))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("starts_at", "why"),
    [
        ("2027-05-04 13:00", "outside working hours"),
        ("2027-05-04 12:45", "runs past the end of the working interval"),
        ("2027-05-04 10:15", "not on the slot grid"),
        ("2027-05-03 09:30", "less than the minimum notice ahead"),
        ("2027-07-30 10:00", "beyond the booking horizon"),
    ],
)
def test_a_time_the_listing_would_not_offer_is_slot_unavailable(api, starts_at, why):
    response = api.create(starts_at)
    assert response.status_code == 409, why
    problem = response.get_json()
    assert problem["code"] == "slot_unavailable"
    assert "Nadia" in problem["detail"]


def test_a_taken_time_says_who_is_booked_and_when(api):
    api.created("2027-05-04 10:00")
    response = api.create(
        "2027-05-04 10:00", customer={"full_name": "Other", "phone": "+212622222222"}
    )
    assert response.status_code == 409
    assert response.get_json()["detail"] == "Nadia is already booked from 10:00 to 10:30."


def test_time_off_makes_a_time_unavailable(api, salon):
    use_tenant(salon.tenant)
    make_time_off(salon.nadia, at("2027-05-04 09:00"), at("2027-05-04 12:00"))
    assert api.create("2027-05-04 10:00").status_code == 409


def test_a_staff_member_who_does_not_offer_the_service_cannot_be_booked_for_it(api, salon):
    use_tenant(salon.tenant)
    other = make_staff(services=[], hours={2: [("09:00", "18:00")]}, display_name="Omar")
    response = api.create(staff_id=str(other.id))
    assert response.status_code == 409
    assert response.get_json()["detail"] == "Omar does not offer this service."


def test_without_staff_the_least_busy_free_staff_member_is_assigned_then_the_next(api, salon):
    api.created("2027-05-04 09:00", staff_id=str(salon.nadia.id))
    first = api.created("2027-05-04 10:00", staff_id=None)
    assert first["staff_id"] == str(salon.karim.id)  # Nadia already has a booking that day
    second = api.created("2027-05-04 10:00", staff_id=None)
    assert second["staff_id"] == str(salon.nadia.id)
    third = api.create("2027-05-04 10:00", staff_id=None)
    assert third.status_code == 409
    assert third.get_json()["code"] == "slot_unavailable"


def test_buffers_are_copied_onto_the_booking_and_later_edits_do_not_move_it(api, salon):
    use_tenant(salon.tenant)
    padded = make_service(
        name="Soin",
        duration_minutes=30,
        slot_interval_minutes=30,
        buffer_before_minutes=15,
        buffer_after_minutes=30,
    )
    salon.nadia.services.append(padded)
    session().commit()
    booking = api.created("2027-05-04 10:00", service_id=str(padded.id))
    use_tenant(salon.tenant)
    row = session().get(Booking, uuid.UUID(booking["id"]))
    assert row.blocked.lower.isoformat() == "2027-05-04T08:45:00+00:00"
    assert row.blocked.upper.isoformat() == "2027-05-04T10:00:00+00:00"
    # 10:30 + 30 minutes after: 11:00 is the first time free again for a plain service.
    assert api.create("2027-05-04 10:30").status_code == 409
    padded.buffer_after_minutes = 0
    session().commit()
    assert api.create("2027-05-04 10:30").status_code == 409
    assert api.create("2027-05-04 11:00").status_code == 201


def test_the_exclusion_constraint_refuses_overlaps_whatever_the_application_does(api, salon):
    booking = api.created("2027-05-04 10:00")
    use_tenant(salon.tenant)
    row = session().get(Booking, uuid.UUID(booking["id"]))
    with pytest.raises(sa.exc.IntegrityError) as caught, session().begin_nested():
        session().execute(
            sa.text(
                "INSERT INTO bookings (service_id, staff_id, customer_id, starts_at, ends_at,"
                " blocked, status, source, price, currency, manage_token_hash,"
                " manage_token_encrypted) SELECT service_id, staff_id, customer_id,"
                " starts_at + interval '10 minutes', ends_at, tstzrange(starts_at + interval"
                " '10 minutes', ends_at), 'pending', source, price, currency, '\\x01', 'x'"
                " FROM bookings WHERE id = :id"
            ),
            {"id": row.id},
        )
    assert caught.value.orig.diag.constraint_name == "ex_bookings_no_overlap"


# --- lifecycle ------------------------------------------------------------------------------------


def _pending(salon, booking_id, hold_until=None):
    use_tenant(salon.tenant)
    row = session().get(Booking, uuid.UUID(booking_id))
    row.status = "pending"
    row.payment_due_at = hold_until
    session().commit()
    return row


def test_a_service_and_staff_member_named_only_by_cancelled_or_past_bookings_are_deleted(
    api, salon
):
    cancelled = api.created("2027-05-04 10:00")
    done = api.created("2027-05-03 11:00")
    service_url = f"/api/v1/services/{salon.service.id}"
    staff_url = f"/api/v1/staff/{salon.nadia.id}"
    # Future active bookings depend on them: refused.
    for url in (service_url, staff_url):
        response = api.client.delete(url, headers=api.headers)
        assert response.status_code == 409, url
    assert api.post(f"/{cancelled['id']}/cancel", {"reason": "moved away"}).status_code == 200
    clock.advance(timedelta(hours=4))
    assert api.post(f"/{done['id']}/complete").status_code == 200
    # Only a cancelled and a completed booking name them now.
    for url in (staff_url, service_url):
        assert api.client.delete(url, headers=api.headers).status_code == 204, url
        assert api.client.get(url, headers=api.headers).status_code == 404, url
        assert api.client.delete(url, headers=api.headers).status_code == 404, url
    listed = api.client.get("/api/v1/services", headers=api.headers).get_json()
    assert str(salon.service.id) not in {s["id"] for s in listed}
    listed = api.client.get("/api/v1/staff", headers=api.headers).get_json()
    assert [s["display_name"] for s in listed] == ["Karim"]
    # The bookings keep what they name; the name is free for a new service.
    kept = api.get(f"/{done['id']}").get_json()
    assert (kept["service_id"], kept["staff_id"]) == (done["service_id"], done["staff_id"])
    again = api.client.post(
        "/api/v1/services",
        json={"name": "Coupe", "duration_minutes": 30, "price": "90.00"},
        headers=api.headers,
    )
    assert again.status_code == 201, again.get_json()
    # Neither can be booked, assigned or scheduled any more.
    response = api.create("2027-05-06 10:00", staff_id=str(salon.karim.id))
    assert response.status_code in (404, 409, 422), response.get_json()
    response = api.client.put(f"{staff_url}/working-hours", json=[], headers=api.headers)
    assert response.status_code == 404
    response = api.client.patch(
        f"/api/v1/staff/{salon.karim.id}",
        json={"service_ids": [str(salon.service.id)]},
        headers=api.headers,
    )
    assert response.status_code == 422


def test_confirm_moves_pending_to_confirmed_and_only_that(api, salon):
    booking = api.created()
    assert api.post(f"/{booking['id']}/confirm").get_json()["code"] == "invalid_transition"
    _pending(salon, booking["id"], NOW + timedelta(minutes=15))
    confirmed = api.post(f"/{booking['id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "confirmed"
    assert confirmed.get_json()["payment_due_at"] is None


def test_actions_without_a_body_refuse_fields_in_one(api, salon):
    booking = api.created()
    _pending(salon, booking["id"], NOW + timedelta(minutes=15))
    for action in ("confirm", "complete", "no-show"):
        answer = api.post(f"/{booking['id']}/{action}", {"reason": "x"})
        assert answer.status_code == 422, action
        assert answer.get_json()["errors"] == {"reason": ["Unknown field."]}
    assert api.post(f"/{booking['id']}/confirm", {}).status_code == 200


def test_cancel_frees_the_time_at_once_and_keeps_the_reason(api):
    booking = api.created()
    cancelled = api.post(f"/{booking['id']}/cancel", {"reason": "Sick"})
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert (body["status"], body["cancellation_reason"]) == ("cancelled", "Sick")
    assert body["cancelled_at"] == "2027-05-03T09:00:00+01:00"
    assert api.create().status_code == 201
    again = api.post(f"/{booking['id']}/cancel")
    assert again.status_code == 409
    assert again.get_json()["code"] == "invalid_transition"


def test_complete_and_no_show_need_a_confirmed_booking_that_has_started(api):
    first = api.created("2027-05-04 10:00")
    second = api.created("2027-05-04 11:00")
    early = api.post(f"/{first['id']}/complete")
    assert early.status_code == 409
    assert early.get_json()["code"] == "invalid_transition"
    assert early.get_json()["detail"] == "A booking cannot be completed before it starts."
    early = api.post(f"/{second['id']}/no-show").get_json()
    assert early["detail"] == "A booking cannot be marked as a no-show before it starts."
    clock.advance(timedelta(days=1, hours=3))
    assert api.post(f"/{first['id']}/complete").get_json()["status"] == "completed"
    assert api.post(f"/{second['id']}/no-show").get_json()["status"] == "no_show"
    for path in ("cancel", "confirm", "complete", "no-show", "reschedule"):
        body = {"starts_at": at("2027-05-05 10:00")} if path == "reschedule" else None
        response = api.post(f"/{first['id']}/{path}", body)
        assert response.status_code == 409, path
        assert response.get_json()["code"] == "invalid_transition"


def test_every_change_is_in_the_audit_trail_oldest_first(api, salon):
    booking = api.created("2027-05-04 10:00")
    api.post(f"/{booking['id']}/reschedule", {"starts_at": at("2027-05-04 11:00")})
    api.post(f"/{booking['id']}/cancel", {"reason": "Changed plans"})
    response = api.get(f"/{booking['id']}/events")
    assert response.status_code == 200
    trail = response.get_json()
    assert [(e["type"], e["from_status"], e["to_status"]) for e in trail] == [
        ("created", None, "confirmed"),
        ("rescheduled", "confirmed", "confirmed"),
        ("cancelled", "confirmed", "cancelled"),
    ]
    assert trail[0]["actor"]["kind"] == "user"
    assert trail[0]["actor"]["email"] == salon.tenant.owner.email
    assert trail[1]["data"]["to"]["starts_at"] == "2027-05-04T11:00:00+01:00"  # the tenant's offset
    assert trail[2]["data"] == {"reason": "Changed plans"}
    assert trail[0]["created_at"] == "2027-05-03T09:00:00+01:00"


def test_every_change_emits_a_domain_event_inside_the_transaction(api, emitted):
    booking = api.created("2027-05-04 10:00")
    api.post(f"/{booking['id']}/reschedule", {"starts_at": at("2027-05-04 11:00")})
    api.post(f"/{booking['id']}/cancel")
    assert [name for name, _ in emitted] == [
        "booking.created", "booking.rescheduled", "booking.cancelled",
    ]  # fmt: skip
    payload = emitted[0][1]
    assert str(payload["booking"].id) == booking["id"]
    # The booking handed on is the row the insert returned, its blocked range the one checked.
    start = datetime.fromisoformat(at("2027-05-04 10:00"))
    buffers = api.salon.service.buffer_before_minutes, api.salon.service.buffer_after_minutes
    assert payload["booking"].blocked == Range(
        start - timedelta(minutes=buffers[0]),
        start + timedelta(minutes=30 + buffers[1]),
        bounds="[)",
    )
    assert str(payload["customer"].id) == booking["customer_id"]
    assert payload["tenant"].slug == api.salon.tenant.slug
    assert payload["actor"].kind == "user"
    assert payload["now"] == NOW


def test_a_subscriber_that_refuses_undoes_the_booking(api, salon):
    from bookme.core import errors, events

    def refuse(**_):
        raise errors.Conflict("A subscriber refused.")

    events.subscribe("booking.created")(refuse)
    try:
        response = api.create()
    finally:
        events._handlers["booking.created"].remove(refuse)
    assert response.status_code == 409
    use_tenant(salon.tenant)
    assert session().scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


# --- reschedule -----------------------------------------------------------------------------------


def test_reschedule_moves_the_booking_and_frees_the_old_time(api, salon):
    booking = api.created("2027-05-04 10:00")
    moved = api.post(f"/{booking['id']}/reschedule", {"starts_at": at("2027-05-04 15:00")})
    assert moved.status_code == 200
    assert moved.get_json()["starts_at"] == "2027-05-04T15:00:00+01:00"
    assert moved.get_json()["ends_at"] == "2027-05-04T15:30:00+01:00"
    assert api.create("2027-05-04 10:00").status_code == 201


def test_reschedule_onto_an_overlapping_time_of_its_own_is_allowed(api, salon):
    use_tenant(salon.tenant)
    salon.service.slot_interval_minutes = 15
    session().commit()
    booking = api.created("2027-05-04 10:00")
    moved = api.post(f"/{booking['id']}/reschedule", {"starts_at": at("2027-05-04 10:15")})
    assert moved.status_code == 200, moved.get_json()


def test_reschedule_to_an_unavailable_time_keeps_the_old_one(api, salon):
    booking = api.created("2027-05-04 10:00")
    api.created("2027-05-04 11:00", customer={"full_name": "Other", "phone": "+212622222222"})
    refused = api.post(f"/{booking['id']}/reschedule", {"starts_at": at("2027-05-04 11:00")})
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "slot_unavailable"
    assert api.get(f"/{booking['id']}").get_json()["starts_at"] == "2027-05-04T10:00:00+01:00"
    trail = api.get(f"/{booking['id']}/events").get_json()
    assert [e["type"] for e in trail] == ["created"]


def test_reschedule_can_hand_the_booking_to_another_qualified_staff_member(api, salon):
    booking = api.created("2027-05-04 10:00")
    moved = api.post(
        f"/{booking['id']}/reschedule",
        {"starts_at": at("2027-05-04 10:00"), "staff_id": str(salon.karim.id)},
    )
    assert moved.status_code == 200
    assert moved.get_json()["staff_id"] == str(salon.karim.id)


# --- expired holds --------------------------------------------------------------------------------


def test_an_expired_hold_no_longer_blocks_and_is_cancelled_by_the_next_booking(api, salon, emitted):
    hold = api.created("2027-05-04 10:00")
    _pending(salon, hold["id"], NOW - timedelta(minutes=1))
    taken = api.create("2027-05-04 10:00", customer={"full_name": "Next", "phone": "+212633333333"})
    assert taken.status_code == 201, taken.get_json()
    expired = api.get(f"/{hold['id']}").get_json()
    assert expired["status"] == "cancelled"
    assert expired["cancellation_reason"] == "payment_expired"
    trail = api.get(f"/{hold['id']}/events").get_json()
    assert trail[-1]["type"] == "cancelled"
    assert trail[-1]["actor"]["kind"] == "system"
    assert ("booking.cancelled", "payment_expired") in [
        (name, payload["data"].get("reason")) for name, payload in emitted
    ]


def test_a_hold_still_running_blocks_its_time(api, salon):
    hold = api.created("2027-05-04 10:00")
    _pending(salon, hold["id"], NOW + timedelta(minutes=10))
    other = api.create("2027-05-04 10:00", customer={"full_name": "Next", "phone": "+212633333333"})
    assert other.status_code == 409


# --- reads ----------------------------------------------------------------------------------------


def test_the_list_filters_by_time_staff_customer_and_status_in_start_order(api, salon):
    a = api.created("2027-05-04 11:00")
    b = api.created("2027-05-04 10:00", staff_id=str(salon.karim.id))
    c = api.created("2027-05-05 10:00", customer={"full_name": "Other", "phone": "+212622222222"})
    api.post(f"/{c['id']}/cancel")

    def ids(**params):
        response = api.get(**params)
        assert response.status_code == 200, response.get_json()
        return [row["id"] for row in response.get_json()]

    assert ids() == [b["id"], a["id"], c["id"]]
    assert ids(**{"from": "2027-05-05"}) == [c["id"]]
    assert ids(to="2027-05-04") == [b["id"], a["id"]]
    assert ids(**{"from": "2027-05-04T10:30:00+01:00", "to": "2027-05-04"}) == [a["id"]]
    assert ids(staff_id=str(salon.karim.id)) == [b["id"]]
    assert ids(customer_id=c["customer_id"]) == [c["id"]]
    assert ids(status="cancelled") == [c["id"]]
    assert ids(status=["confirmed", "cancelled"]) == [b["id"], a["id"], c["id"]]


def test_the_list_is_paginated(api):
    for hour in ("09:00", "09:30", "10:00"):
        api.created(f"2027-05-04 {hour}")
    response = api.get(page=2, page_size=2)
    assert response.status_code == 200
    assert len(response.get_json()) == 1
    assert '"total": 3' in response.headers["X-Pagination"]
    assert api.get(page_size=101).status_code == 422


@pytest.mark.parametrize(
    "params", [{"from": "yesterday"}, {"status": "lost"}, {"to": "2027-13-01"}]
)
def test_bad_list_filters_are_validation_errors(api, params):
    response = api.get(**params)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_an_unknown_booking_is_not_found(api):
    for path in ("", "/events"):
        assert api.get(f"/{uuid.uuid4()}{path}").status_code == 404
    assert api.post(f"/{uuid.uuid4()}/cancel").status_code == 404


def test_another_tenants_booking_is_not_found(api, client, other_tenant):
    booking = api.created()
    response = client.get(f"/api/v1/bookings/{booking['id']}", headers=other_tenant.headers())
    assert response.status_code == 404
    assert client.get("/api/v1/bookings", headers=other_tenant.headers()).get_json() == []


# --- roles ----------------------------------------------------------------------------------------


@pytest.fixture
def staff_api(api, salon):
    member = add_member(salon.tenant, "staff")
    use_tenant(salon.tenant)
    salon.nadia.user_id = member.user_id
    session().commit()
    return api.as_(member)


def test_staff_read_and_create_any_booking_but_change_only_their_own(api, staff_api, salon):
    mine = staff_api.created("2027-05-04 10:00")
    theirs = staff_api.created("2027-05-04 10:00", staff_id=str(salon.karim.id))
    assert staff_api.get(f"/{theirs['id']}").status_code == 200
    assert len(staff_api.get().get_json()) == 2
    refused = staff_api.post(f"/{theirs['id']}/cancel")
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"
    assert staff_api.post(f"/{mine['id']}/cancel").status_code == 200


def test_a_staff_member_is_refused_before_the_body_is_read(staff_api, salon):
    theirs = staff_api.created("2027-05-04 10:00", staff_id=str(salon.karim.id))
    for path, body in (("cancel", {"reason": 7}), ("reschedule", {"bogus": True})):
        response = staff_api.post(f"/{theirs['id']}/{path}", body)
        assert response.status_code == 403, path


def test_a_staff_member_cannot_hand_their_booking_to_someone_else(staff_api, salon):
    mine = staff_api.created("2027-05-04 10:00")
    response = staff_api.post(
        f"/{mine['id']}/reschedule",
        {"starts_at": at("2027-05-04 11:00"), "staff_id": str(salon.karim.id)},
    )
    assert response.status_code == 403


def test_managers_change_any_booking(api, salon):
    manager = api.as_(add_member(salon.tenant, "manager"))
    booking = api.created()
    assert manager.post(f"/{booking['id']}/cancel").status_code == 200


def test_without_a_token_or_membership_nothing_is_reachable(api, client, salon):
    booking = api.created()
    anonymous = {"X-Tenant": salon.tenant.slug}
    assert client.get("/api/v1/bookings", headers=anonymous).status_code == 401
    assert client.post("/api/v1/bookings", json={}, headers=anonymous).status_code == 401
    outsider = client.post(
        f"/api/v1/bookings/{booking['id']}/cancel", json={"bogus": 1}, headers=anonymous
    )
    assert outsider.status_code == 401


# --- the catalog asks before deleting -------------------------------------------------------------


def test_a_service_or_staff_member_with_upcoming_bookings_cannot_be_deleted(api, client, salon):
    api.created()
    headers = salon.tenant.headers()
    service = client.delete(f"/api/v1/services/{salon.service.id}", headers=headers)
    assert service.status_code == 409
    staff = client.delete(f"/api/v1/staff/{salon.nadia.id}", headers=headers)
    assert staff.status_code == 409


def test_price_is_a_snapshot(api, salon):
    booking = api.created()
    use_tenant(salon.tenant)
    salon.service.price = Decimal("120.00")
    session().commit()
    assert api.get(f"/{booking['id']}").get_json()["price"] == "80.00"


# --- seams for payments and periodic jobs --------------------------------------------------------


def test_a_terms_subscriber_can_make_public_bookings_pending_holds(client, salon, emitted):
    from bookme.core import events

    def hold(*, source, now, terms, **_):
        if source == "public":
            terms.update(status="pending", payment_due_at=now + timedelta(minutes=15))

    events.subscribe("booking.terms")(hold)
    try:
        response = client.post(
            "/api/v1/public/bookings",
            json={
                "service_id": str(salon.service.id),
                "starts_at": at("2027-05-04 10:00"),
                "customer": {"full_name": "Salma", "phone": "+212612345678"},
            },
            headers={"X-Tenant": salon.tenant.slug},
        )
    finally:
        events._handlers["booking.terms"].remove(hold)
    body = response.get_json()
    assert (body["status"], body["payment_due_at"]) == ("pending", "2027-05-03T09:15:00+01:00")
    assert emitted[0][1]["booking"].status == "pending"


def test_the_sweep_cancels_every_expired_hold_and_nothing_else(api, salon, emitted):
    from bookme.bookings.service import expire_holds

    expired = api.created("2027-05-04 10:00")
    running = api.created("2027-05-04 11:00")
    confirmed = api.created("2027-05-04 12:00")
    _pending(salon, expired["id"], NOW - timedelta(seconds=1))
    _pending(salon, running["id"], NOW + timedelta(minutes=5))
    use_tenant(salon.tenant)
    tenant_ref = use_tenant(salon.tenant)
    assert expire_holds(tenant=tenant_ref, now=NOW) == 1
    assert expire_holds(tenant=tenant_ref, now=NOW) == 0
    statuses = {b["id"]: b["status"] for b in api.get().get_json()}
    assert statuses == {
        expired["id"]: "cancelled",
        running["id"]: "pending",
        confirmed["id"]: "confirmed",
    }
    assert [name for name, _ in emitted].count("booking.cancelled") == 1


def test_booking_an_existing_customer_reads_nothing_twice(api, app):
    """Tenant and caller, the plan (service, customer, availability), the insert (booking,
    audit, token index), the outbox's settings, the customer's WhatsApp window (read once
    for the confirmation and both reminders), the outbox rows. The customer read by the plan
    goes with the booking to the outbox, which does not read it again."""
    import sqlalchemy as sa

    from bookme.extensions import db

    first = api.created("2027-05-04 10:00")
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        if "SAVEPOINT" not in statement:  # the test's own transaction
            statements.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        second = api.created("2027-05-04 11:00", customer=None, customer_id=first["customer_id"])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert [s[:24] for s in statements] == [
        "SELECT found.*, x.*, set",
        "SELECT s.id, s.category_",
        "WITH b AS ( INSERT INTO ",
        "SELECT s.id AS settings_",
        "SELECT max(notification_",
        "WITH given AS ( SELECT *",
    ]
    notifications = api.get(f"/{second['id']}/notifications").get_json()
    assert sorted(n["event"] for n in notifications) == [
        "booking_confirmed", "booking_reminder", "booking_reminder",
    ]  # fmt: skip
