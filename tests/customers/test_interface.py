"""The functions the bookings module calls: find_or_create_customer, bookable."""

import uuid
from datetime import UTC, datetime

import pytest

from bookme.core import errors, tenancy
from bookme.core.db import session
from bookme.customers import service
from bookme.customers.models import Customer
from bookme.tenants.service import tenant_ref_by_slug
from bookme.users.access import CUSTOMER, Actor

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
STAFF = Actor(kind="user", user_id=uuid.uuid4(), email="boss@example.com", role="owner")


@pytest.fixture
def ref(tenant):
    ref = tenant_ref_by_slug(tenant.slug)
    tenancy.activate(ref)
    yield ref
    tenancy.activate(None)


def test_public_booking_creates_a_customer_with_every_consent_unasked(ref):
    customer = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma B.", phone="0612345678"
    )
    assert customer.phone == "+212612345678"
    assert customer.locale == "fr"
    assert all(state["granted"] is None for state in customer.consents.values())


def test_second_booking_with_the_same_phone_finds_the_same_customer(ref):
    first = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma B.", phone="+212 6 12 34 56 78"
    )
    again = service.find_or_create_customer(
        tenant=ref,
        actor=CUSTOMER,
        now=NOW,
        full_name="S. Bennani",
        phone="00212612345678",
        email="other@example.com",
    )
    assert again.id == first.id
    assert again.full_name == "Salma B."
    assert again.email is None


def test_customer_is_found_by_email_when_the_phone_is_unknown(ref):
    first = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma", email="Salma@Example.com"
    )
    again = service.find_or_create_customer(
        tenant=ref,
        actor=CUSTOMER,
        now=NOW,
        full_name="Salma",
        phone="0612345678",
        email="salma@example.COM",
    )
    assert again.id == first.id


def test_consents_given_with_a_public_booking_are_recorded_with_their_source(ref):
    customer = service.find_or_create_customer(
        tenant=ref,
        actor=CUSTOMER,
        now=NOW,
        full_name="Salma",
        phone="0612345678",
        consents={"sms": True, "marketing": False},
    )
    assert customer.consents["sms"] == {
        "granted": True,
        "changed_at": NOW,
        "source": "public_booking",
    }
    assert customer.consents["marketing"]["granted"] is False
    assert customer.consents["whatsapp"]["granted"] is None
    history = service.list_consent_events(customer_id=customer.id)
    assert [(e.channel, e.granted, e.source) for e in history] == [
        ("sms", True, "public_booking"),
        ("marketing", False, "public_booking"),
    ]


def test_a_public_booking_cannot_override_a_recorded_refusal_but_can_withdraw(ref):
    customer = service.find_or_create_customer(
        tenant=ref,
        actor=CUSTOMER,
        now=NOW,
        full_name="Salma",
        phone="0612345678",
        consents={"sms": False, "email": True},
    )
    again = service.find_or_create_customer(
        tenant=ref,
        actor=CUSTOMER,
        now=NOW,
        full_name="Salma",
        phone="0612345678",
        consents={"sms": True, "email": False, "whatsapp": True},
    )
    assert again.id == customer.id
    assert again.consents["sms"]["granted"] is False
    assert again.consents["email"]["granted"] is False
    assert again.consents["whatsapp"]["granted"] is True


def test_invalid_phone_is_a_validation_error(ref):
    with pytest.raises(errors.ValidationFailed):
        service.find_or_create_customer(
            tenant=ref, actor=CUSTOMER, now=NOW, full_name="X", phone="12"
        )


def test_bookable_customer_refuses_deleted_and_erased_and_unknown(ref):
    alive = service.create_customer(
        tenant=ref, actor=STAFF, now=NOW, full_name="A", phone="0611111111"
    )
    deleted = service.create_customer(
        tenant=ref, actor=STAFF, now=NOW, full_name="B", phone="0622222222"
    )
    erased = service.create_customer(
        tenant=ref, actor=STAFF, now=NOW, full_name="C", phone="0633333333"
    )
    service.delete_customer(tenant=ref, actor=STAFF, now=NOW, customer_id=deleted.id)
    service.erase_customer(tenant=ref, actor=STAFF, now=NOW, customer_id=erased.id)
    assert service.bookable(_row(alive.id)).id == alive.id
    for gone in (deleted, erased):
        with pytest.raises(errors.ValidationFailed) as caught:
            service.bookable(_row(gone.id))
        assert "customer_id" in caught.value.errors
    with pytest.raises(errors.NotFound):
        service.bookable(_row(uuid.uuid4()))


def test_a_deleted_customer_does_not_match_and_a_new_one_is_created(ref):
    old = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma", phone="0612345678"
    )
    service.delete_customer(tenant=ref, actor=STAFF, now=NOW, customer_id=old.id)
    new = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma", phone="0612345678"
    )
    assert new.id != old.id


def test_a_customer_created_concurrently_is_found_instead_of_duplicated(ref, monkeypatch):
    """The lookup misses a record another request has just committed: the unique index
    refuses the insert, and the second lookup returns that record."""
    other = service.create_customer(
        tenant=ref, actor=STAFF, now=NOW, full_name="Salma", phone="0612345678"
    )
    real_find = service._find_active
    calls = []

    def find_late(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_find(**kwargs)

    monkeypatch.setattr(service, "_find_active", find_late)
    found = service.find_or_create_customer(
        tenant=ref, actor=CUSTOMER, now=NOW, full_name="Salma B.", phone="+212612345678"
    )
    assert found.id == other.id
    assert found.full_name == "Salma"


def _row(customer_id: uuid.UUID) -> Customer | None:
    return session().get(Customer, customer_id)
