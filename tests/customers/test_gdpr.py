"""GDPR: GET /customers/{id}/export and POST /customers/{id}/erase."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bookme.core import clock, events
from bookme.core.db import session
from bookme.customers import service
from bookme.users.access import Actor
from tests.customers.conftest import insert_booking
from tests.factories import make_service, make_staff, use_tenant

NOW = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def salma(api):
    return api.created(
        full_name="Salma Bennani",
        phone="0612345678",
        email="salma@example.com",
        tags=["vip"],
        notes="Allergic to latex.",
        consents={"sms": True, "marketing": False},
    )


@pytest.fixture
def catalog(tenant):
    use_tenant(tenant)
    cut = make_service(name="Coupe")
    nadia = make_staff(display_name="Nadia", services=[cut])
    return cut, nadia


def test_export_holds_the_record_consents_audit_and_bookings(api, salma, catalog):
    cut, nadia = catalog
    booking_id = insert_booking(
        salma["id"], NOW + timedelta(days=3), service=cut, staff=nadia, notes="first visit"
    )
    with clock.frozen(NOW + timedelta(hours=1)):
        api.patch(salma["id"], consents={"marketing": True})
    with clock.frozen(NOW + timedelta(hours=2)):
        response = api.get(f"/{salma['id']}/export")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["format"] == "bookme.customer-export/1"
    assert doc["exported_at"] == "2027-04-01T12:00:00+01:00"
    assert doc["customer"]["phone"] == "+212612345678"
    assert doc["customer"]["notes"] == "Allergic to latex."
    assert [(e["channel"], e["granted"]) for e in doc["consent_history"]] == [
        ("sms", True),
        ("marketing", False),
        ("marketing", True),
    ]
    assert [e["type"] for e in doc["audit"]] == ["created", "updated", "exported"]
    (booking,) = doc["sections"]["bookings"]
    assert booking["id"] == str(booking_id)
    assert booking["notes"] == "first visit"
    assert booking["service_name"] == "Coupe" and booking["staff_name"] == "Nadia"
    assert booking["starts_at"] == "2027-04-04T10:00:00+01:00"
    assert booking["price"] == "80.00"


def test_other_modules_add_their_sections_to_the_export(api, salma, monkeypatch):
    seen = {}

    def notifications(*, tenant, customer_id):
        seen["tenant"] = tenant.slug
        return [{"channel": "sms", "sent_at": NOW, "to": "+212612345678"}]

    monkeypatch.setitem(service._export_sections, "notifications", notifications)
    doc = api.get(f"/{salma['id']}/export").get_json()
    assert seen["tenant"] == api.tenant.slug
    assert doc["sections"]["notifications"] == [
        {"channel": "sms", "sent_at": "2027-04-01T10:00:00+01:00", "to": "+212612345678"}
    ]


@pytest.mark.parametrize("name", ["customer", "Bad Name", "", "audit"])
def test_export_section_names_are_checked(name):
    with pytest.raises(ValueError):
        service.register_export_section(name, lambda **kw: None)


def test_erase_replaces_personal_data_and_keeps_bookings(api, salma, catalog, tenant):
    cut, nadia = catalog
    booking_id = insert_booking(
        salma["id"], NOW - timedelta(days=3), "completed", service=cut, staff=nadia
    )
    use_tenant(tenant)
    service.record_consent(
        tenant=use_tenant(tenant),
        actor=Actor(kind="customer"),
        now=NOW,
        customer_id=salma["id"],
        channel="sms",
        granted=False,
        source="reply",
        evidence="STOP from +212612345678",
    )
    assert api.post(f"/{salma['id']}/erase").status_code == 204
    body = api.get(f"/{salma['id']}").get_json()
    assert body["full_name"] == "Erased customer"
    assert body["phone"] is None and body["email"] is None
    assert body["notes"] is None and body["tags"] == []
    assert body["erased_at"] == "2027-04-01T10:00:00+01:00"
    assert body["visit_count"] == 1
    history = api.get(f"/{salma['id']}/consents").get_json()
    assert len(history) == 3
    assert all(entry["evidence"] is None for entry in history)
    bookings = api.get(f"/{salma['id']}/bookings").get_json()
    assert [b["id"] for b in bookings] == [str(booking_id)]
    dump = (
        session()
        .execute(
            sa.text("SELECT row_to_json(c)::text FROM customers c WHERE id = :id"),
            {"id": salma["id"]},
        )
        .scalar_one()
    )
    for secret in ("Salma", "Bennani", "612345678", "salma@", "latex", "vip"):
        assert secret not in dump


def test_erase_is_idempotent_and_audited_once(api, salma):
    assert api.post(f"/{salma['id']}/erase").status_code == 204
    with clock.frozen(NOW + timedelta(days=1)):
        assert api.post(f"/{salma['id']}/erase").status_code == 204
    body = api.get(f"/{salma['id']}").get_json()
    assert body["erased_at"] == "2027-04-01T10:00:00+01:00"
    audit = api.get(f"/{salma['id']}/export").get_json()["audit"]
    assert [e["type"] for e in audit] == ["created", "erased", "exported"]
    assert audit[1]["actor"] == f"user:{api.tenant.owner.email}"


def test_erase_tells_other_modules_inside_the_transaction(api, salma, monkeypatch):
    received = []
    monkeypatch.setitem(events._handlers, "customer_erased", [lambda **kw: received.append(kw)])
    api.post(f"/{salma['id']}/erase")
    api.post(f"/{salma['id']}/erase")
    assert len(received) == 1
    assert str(received[0]["customer_id"]) == salma["id"]
    assert received[0]["now"] == NOW


def test_a_failing_erasure_listener_rolls_the_erasure_back(api, salma, tenant, monkeypatch):
    def broken(**kw):
        raise RuntimeError("scrub failed")

    monkeypatch.setitem(events._handlers, "customer_erased", [broken])
    ref = use_tenant(tenant)
    with pytest.raises(RuntimeError):
        service.erase_customer(
            tenant=ref, actor=Actor(kind="system"), now=NOW, customer_id=salma["id"]
        )
    assert api.get(f"/{salma['id']}").get_json()["full_name"] == "Salma Bennani"


def test_an_erased_customer_cannot_be_changed_or_booked(api, salma):
    api.post(f"/{salma['id']}/erase")
    response = api.patch(salma["id"], full_name="Salma again")
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_a_deleted_customer_can_still_be_erased(api, salma):
    api.delete(salma["id"])
    assert api.post(f"/{salma['id']}/erase").status_code == 204
    body = api.get(f"/{salma['id']}").get_json()
    assert body["erased_at"] is not None and body["phone"] is None
