"""/customers over HTTP: records, consents and their history, uniqueness, roles, isolation."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookme.core import clock
from tests.conftest import add_member
from tests.customers.conftest import CustomersApi

NOW = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with clock.frozen(NOW):
        yield


def test_created_customer_reads_back_normalised(api):
    body = api.created(
        full_name="  Salma   Bennani ",
        phone="06 12 34 56 78",
        email="Salma.B@Example.COM",
        locale="ar",
        tags=["VIP", " regular ", "vip"],
        notes="Prefers mornings.",
    )
    assert body["full_name"] == "Salma Bennani"
    assert body["phone"] == "+212612345678"
    assert body["email"] == "Salma.B@example.com"
    assert body["locale"] == "ar"
    assert body["tags"] == ["VIP", "regular"]
    assert body["notes"] == "Prefers mornings."
    assert body["deleted_at"] is None and body["erased_at"] is None
    assert body["created_at"] == "2027-04-01T10:00:00+01:00"
    fetched = api.get(f"/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == body


def test_locale_defaults_to_the_business_locale(api):
    assert api.created()["locale"] == "fr"


def test_consents_are_written_as_booleans_and_read_with_time_and_source(api):
    body = api.created(phone="0612345678", consents={"sms": False, "marketing": True})
    assert body["consents"] == {
        "sms": {"granted": False, "changed_at": "2027-04-01T10:00:00+01:00", "source": "staff"},
        "whatsapp": {"granted": None, "changed_at": None, "source": None},
        "email": {"granted": None, "changed_at": None, "source": None},
        "marketing": {
            "granted": True,
            "changed_at": "2027-04-01T10:00:00+01:00",
            "source": "staff",
        },
    }
    # Recording the consents is not a later change of a customer created at that moment.
    assert body["updated_at"] == body["created_at"] == "2027-04-01T10:00:00+01:00"


def test_consent_changes_append_to_the_history_oldest_first(api):
    customer = api.created(consents={"sms": True})
    with clock.frozen(NOW + timedelta(days=1)):
        api.patch(customer["id"], consents={"sms": False, "email": True})
    with clock.frozen(NOW + timedelta(days=2)):
        api.patch(customer["id"], consents={"sms": False})  # unchanged: no new entry
        updated = api.patch(customer["id"], consents={"sms": True}).get_json()
    assert updated["consents"]["sms"] == {
        "granted": True,
        "changed_at": "2027-04-03T10:00:00+01:00",
        "source": "staff",
    }
    history = api.get(f"/{customer['id']}/consents").get_json()
    assert [(h["channel"], h["granted"], h["source"], h["changed_at"]) for h in history] == [
        ("sms", True, "staff", "2027-04-01T10:00:00+01:00"),
        ("sms", False, "staff", "2027-04-02T10:00:00+01:00"),
        ("email", True, "staff", "2027-04-02T10:00:00+01:00"),
        ("sms", True, "staff", "2027-04-03T10:00:00+01:00"),
    ]
    assert all(h["actor"].startswith("user:") for h in history)


def test_consent_history_is_oldest_first_whatever_the_insertion_order(api):
    customer = api.created()
    with clock.frozen(NOW + timedelta(hours=2)):
        api.patch(customer["id"], consents={"whatsapp": True})
    with clock.frozen(NOW + timedelta(hours=1)):  # recorded later, happened earlier
        api.patch(customer["id"], consents={"sms": True})
    history = api.get(f"/{customer['id']}/consents").get_json()
    assert [h["channel"] for h in history] == ["sms", "whatsapp"]


@pytest.mark.parametrize(
    "consents",
    [{"sms": None}, {"sms": "yes"}, {"sms": 1}, {"fax": True}],
)
def test_consents_must_be_booleans_of_known_channels(api, consents):
    response = api.create(consents=consents)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_patch_changes_only_the_fields_given_and_null_clears(api):
    customer = api.created(phone="0612345678", email="a@example.com", notes="n", tags=["x"])
    response = api.patch(customer["id"], email=None, notes=None, full_name="Salma B.")
    assert response.status_code == 200
    body = response.get_json()
    assert body["email"] is None and body["notes"] is None
    assert body["full_name"] == "Salma B."
    assert body["phone"] == "+212612345678"
    assert body["tags"] == ["x"]


@pytest.mark.parametrize(
    "body",
    [
        {"full_name": ""},
        {"full_name": "x" * 201},
        {"notes": "x" * 5001},
        {"tags": ["x" * 51]},
        {"tags": [f"t{i}" for i in range(21)]},
        {"tags": ["  "]},
        {"locale": "de"},
        {"email": "not-an-email"},
        {"phone": "12"},
        {"id": str(uuid.uuid4())},
        {"created_at": "2027-01-01T00:00:00Z"},
        {"full_name": "Sal\x00ma"},
    ],
)
def test_invalid_customer_fields_are_refused(api, body):
    response = api.create(**body)
    assert response.status_code == 422, body
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert response.mimetype == "application/problem+json"


def test_full_name_is_required(api):
    response = api.client.post("/api/v1/customers", json={}, headers=api.headers)
    assert response.status_code == 422
    assert "full_name" in response.get_json()["errors"]


def test_twenty_tags_of_fifty_characters_are_accepted(api):
    tags = [f"{i:02d}" + "x" * 48 for i in range(20)]
    assert api.created(tags=tags)["tags"] == tags


# --- uniqueness -----------------------------------------------------------------------------


def test_same_phone_in_another_spelling_is_a_conflict_naming_the_existing_customer(api):
    first = api.created(phone="+212612345678")
    response = api.create(full_name="Other", phone="0612 345 678")
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["code"] == "phone_taken"
    assert problem["existing_id"] == first["id"]
    assert first["id"] in problem["detail"]
    assert "phone" in problem["errors"]


def test_same_email_in_another_case_is_a_conflict_naming_the_existing_customer(api):
    first = api.created(email="salma@example.com")
    response = api.create(full_name="Other", email="SALMA@example.com")
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["code"] == "email_taken"
    assert problem["existing_id"] == first["id"]
    assert first["id"] in problem["detail"]


def test_changing_to_a_phone_held_by_another_customer_is_a_conflict(api):
    first = api.created(phone="0612345678")
    second = api.created(full_name="B", phone="0622222222")
    response = api.patch(second["id"], phone="0612345678")
    assert response.status_code == 409
    assert response.get_json()["existing_id"] == first["id"]
    assert api.get(f"/{second['id']}").get_json()["phone"] == "+212622222222"


def test_deleted_and_erased_customers_free_their_phone_and_email(api):
    deleted = api.created(phone="0612345678", email="a@example.com")
    assert api.delete(deleted["id"]).status_code == 204
    again = api.created(phone="0612345678", email="a@example.com")
    assert api.post(f"/{again['id']}/erase").status_code == 204
    api.created(phone="0612345678", email="a@example.com")


def test_phone_and_email_may_repeat_across_tenants(api, client, other_tenant):
    api.created(phone="0612345678", email="a@example.com")
    CustomersApi(client, other_tenant).created(phone="0612345678", email="a@example.com")


# --- soft delete ----------------------------------------------------------------------------


def test_deleted_customer_is_hidden_from_lists_but_readable_with_its_history(api):
    customer = api.created(full_name="Gone Girl", consents={"sms": True})
    api.created(full_name="Still Here")
    assert api.delete(customer["id"]).status_code == 204
    assert [c["full_name"] for c in api.search()] == ["Still Here"]
    assert api.search(q="gone") == []
    fetched = api.get(f"/{customer['id']}").get_json()
    assert fetched["deleted_at"] == "2027-04-01T10:00:00+01:00"
    assert fetched["full_name"] == "Gone Girl"
    assert len(api.get(f"/{customer['id']}/consents").get_json()) == 1


def test_delete_is_idempotent_and_a_deleted_customer_cannot_be_changed(api):
    customer = api.created()
    assert api.delete(customer["id"]).status_code == 204
    assert api.delete(customer["id"]).status_code == 204
    response = api.patch(customer["id"], notes="x")
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_unknown_customer_is_404_for_every_endpoint(api):
    missing = uuid.uuid4()
    for response in (
        api.get(f"/{missing}"),
        api.patch(missing, notes="x"),
        api.delete(missing),
        api.get(f"/{missing}/consents"),
        api.get(f"/{missing}/bookings"),
        api.get(f"/{missing}/export"),
        api.post(f"/{missing}/erase"),
    ):
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"


# --- roles and tenants ----------------------------------------------------------------------


def test_manager_manages_customers(api, tenant):
    manager = api.as_(add_member(tenant, "manager"))
    customer = manager.created(phone="0612345678")
    assert manager.patch(customer["id"], notes="ok").status_code == 200
    assert manager.get(f"/{customer['id']}/export").status_code == 200
    assert manager.delete(customer["id"]).status_code == 204
    assert manager.post(f"/{customer['id']}/erase").status_code == 204


def test_staff_members_neither_read_nor_write_customers(api, tenant):
    # API.md gives the `staff` role the catalog, bookings and its own schedule; customers
    # (personal data) belong to owners and managers.
    customer = api.created(phone="0612345678", consents={"sms": True})
    staff = api.as_(add_member(tenant, "staff"))
    for response in (
        staff.get(f"/{customer['id']}"),
        staff.get(""),
        staff.get("", q="0612345678"),
        staff.get(f"/{customer['id']}/consents"),
        staff.get(f"/{customer['id']}/bookings"),
        staff.create(),
        # Access is checked before the body: an invalid body still gets 403.
        staff.create(full_name="", phone="junk"),
        staff.patch(customer["id"], notes="x"),
        staff.patch(customer["id"], bogus=True),
        staff.delete(customer["id"]),
        staff.get(f"/{customer['id']}/export"),
        staff.post(f"/{customer['id']}/erase"),
    ):
        assert response.status_code == 403
        assert response.get_json()["code"] == "forbidden"
    assert api.get(f"/{customer['id']}").get_json()["deleted_at"] is None


def test_without_a_token_customers_are_401(client, tenant):
    response = client.get("/api/v1/customers", headers={"X-Tenant": tenant.slug})
    assert response.status_code == 401


def test_a_tenant_never_sees_another_tenants_customers(api, client, tenant, other_tenant):
    mine = api.created(full_name="Salma Bennani", phone="0612345678", email="s@example.com")
    theirs = CustomersApi(client, other_tenant)
    assert theirs.search() == []
    assert theirs.search(q="salma") == []
    assert theirs.search(q="345678") == []
    assert theirs.get(f"/{mine['id']}").status_code == 404
    assert theirs.patch(mine["id"], notes="x").status_code == 404
    assert theirs.delete(mine["id"]).status_code == 404
    assert theirs.post(f"/{mine['id']}/erase").status_code == 404
    assert theirs.get(f"/{mine['id']}/export").status_code == 404
    assert theirs.get(f"/{mine['id']}/consents").status_code == 404
    assert theirs.get(f"/{mine['id']}/bookings").status_code == 404
    assert api.get(f"/{mine['id']}").get_json()["erased_at"] is None


def test_a_member_of_one_tenant_gets_403_on_another(api, client, other_tenant):
    customer = api.created()
    headers = {**api.tenant.owner.headers, "X-Tenant": other_tenant.slug}
    response = client.get(f"/api/v1/customers/{customer['id']}", headers=headers)
    assert response.status_code == 403


def test_the_openapi_document_describes_the_customer_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/consents",
        "/api/v1/customers/{customer_id}/bookings",
        "/api/v1/customers/{customer_id}/export",
        "/api/v1/customers/{customer_id}/erase",
    ):
        assert path in paths, path
    conflict = paths["/api/v1/customers"]["post"]["responses"]["409"]
    schema = conflict["content"]["application/problem+json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    assert "existing_id" in spec["components"]["schemas"][name]["properties"]
    create = spec["components"]["schemas"]["CustomerCreate"]["properties"]
    assert create["full_name"]["maxLength"] == 200
    assert create["notes"]["maxLength"] == 5000
