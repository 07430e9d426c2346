"""Notification settings and templates over the API: defaults, partial updates, validation."""

from __future__ import annotations

import pytest

from tests.conftest import add_member

TEMPLATE = "/notification-templates/booking_reminder/sms/fr"


def test_settings_start_with_the_documented_defaults(api):
    response = api.get("/notification-settings")
    assert response.status_code == 200
    body = response.get_json()
    assert body["channels"] == ["whatsapp", "sms", "email"]
    assert body["reminder_offsets_minutes"] == [1440, 120]
    assert body["events"]["booking_confirmed"] is True
    assert set(body["events"]) == {
        "booking_created",
        "booking_confirmed",
        "booking_rescheduled",
        "booking_cancelled",
        "booking_reminder",
        "payment_receipt",
        "payment_refunded",
    }
    assert body["sms_sender"] is None and body["email_from_name"] is None


def test_put_settings_sets_the_fields_given_and_keeps_the_others(api):
    response = api.put(
        "/notification-settings",
        {"channels": ["sms", "email"], "events": {"booking_created": False}, "sms_sender": "SALON"},
    )
    assert response.status_code == 200, response.get_json()
    response = api.put("/notification-settings", {"reminder_offsets_minutes": [60, 2880]})
    body = response.get_json()
    assert body["channels"] == ["sms", "email"]
    assert body["reminder_offsets_minutes"] == [2880, 60]
    assert body["events"]["booking_created"] is False
    assert body["events"]["booking_confirmed"] is True
    assert body["sms_sender"] == "SALON"
    assert api.get("/notification-settings").get_json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reminder_offsets_minutes": [10, 20, 30, 40, 50, 60]}, "reminder_offsets_minutes"),
        ({"reminder_offsets_minutes": [4]}, "reminder_offsets_minutes"),
        ({"reminder_offsets_minutes": [20161]}, "reminder_offsets_minutes"),
        ({"reminder_offsets_minutes": [60, 60]}, "reminder_offsets_minutes"),
        ({"channels": ["sms", "sms"]}, "channels"),
        ({"channels": ["fax"]}, "channels"),
        ({"events": {"booking_exploded": True}}, "events"),
        ({"events": {"booking_confirmed": "yes"}}, "events"),
        ({"whatsapp_sender": "SALON"}, "whatsapp_sender"),
        ({"sms_sender": "far too long a sender"}, "sms_sender"),
        ({"email_from_name": "Evil\r\nBcc: x@y.z"}, "email_from_name"),
        ({"status": "on"}, "status"),
    ],
)
def test_invalid_settings_are_refused_field_by_field(api, body, field):
    response = api.put("/notification-settings", body)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"
    assert field in response.get_json()["errors"]


def test_staff_members_may_not_see_or_change_notification_settings(api, salon):
    staff = add_member(salon.tenant, "staff")
    headers = salon.tenant.headers(staff)
    assert api.client.get("/api/v1/notification-settings", headers=headers).status_code == 403
    response = api.client.put(
        "/api/v1/notification-settings", json={"channels": "not even a list"}, headers=headers
    )
    assert response.status_code == 403  # access is checked before the body
    assert api.client.get("/api/v1/notifications", headers=headers).status_code == 403


def test_every_event_channel_and_locale_has_a_template_in_force(api):
    response = api.get("/notification-templates")
    assert response.status_code == 200
    templates = response.get_json()
    assert len(templates) == 7 * 3 * 3
    assert all(t["is_default"] for t in templates)
    assert {(t["event"], t["channel"], t["locale"]) for t in templates} == {
        (e, c, loc)
        for e in ("booking_created", "booking_confirmed", "booking_rescheduled",
                  "booking_cancelled", "booking_reminder", "payment_receipt", "payment_refunded")
        for c in ("whatsapp", "sms", "email")
        for loc in ("fr", "ar", "en")
    }  # fmt: skip
    emails = [t for t in templates if t["channel"] == "email"]
    assert all(t["subject"] for t in emails)
    assert not any(t["subject"] for t in templates if t["channel"] != "email")


def test_a_saved_template_is_in_force_until_deleted(api):
    body = "{{ business_name }}: RDV {{ date }} {{ time }}. {{ manage_url }}"
    response = api.put(TEMPLATE, {"body": body})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "event": "booking_reminder",
        "channel": "sms",
        "locale": "fr",
        "subject": None,
        "body": body,
        "content_sid": None,
        "content_variables": [],
        "is_default": False,
    }
    listed = {
        (t["event"], t["channel"], t["locale"]): t
        for t in api.get("/notification-templates").get_json()
    }
    assert listed[("booking_reminder", "sms", "fr")]["body"] == body
    assert api.delete(TEMPLATE).status_code == 204
    listed = {
        (t["event"], t["channel"], t["locale"]): t
        for t in api.get("/notification-templates").get_json()
    }
    assert listed[("booking_reminder", "sms", "fr")]["is_default"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Bonjour {{ customer_name }", "Syntax error on line 1"),
        ("Bonjour {{ custmer_name }}", "Unknown variable: custmer_name"),
        ("{% for x in range(9) %}{{ x }}{% endfor %}", "only variables, filters and conditions"),
        ("{{ customer_name.__class__.__mro__ }}", "failed to render"),
        ("{{ manage_url|attr('__globals__') }}", "failed to render"),
    ],
)
def test_a_broken_template_is_refused_naming_the_problem(api, body, message):
    response = api.put(TEMPLATE, {"body": body})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "validation_error"
    assert any(message in text for text in problem["errors"]["body"])


def test_channel_specific_fields_are_checked(api):
    no_subject = api.put("/notification-templates/booking_confirmed/email/en", {"body": "Hi"})
    assert "subject" in no_subject.get_json()["errors"]
    subject_on_sms = api.put(TEMPLATE, {"body": "Hi", "subject": "Hello"})
    assert "subject" in subject_on_sms.get_json()["errors"]
    sid_on_sms = api.put(TEMPLATE, {"body": "Hi", "content_sid": "HX" + "a" * 32})
    assert "content_sid" in sid_on_sms.get_json()["errors"]
    bad_variable = api.put(
        "/notification-templates/booking_reminder/whatsapp/fr",
        {"body": "Hi", "content_sid": "HX" + "a" * 32, "content_variables": ["customer_nam"]},
    )
    assert "content_variables" in bad_variable.get_json()["errors"]
    bad_sid = api.put(
        "/notification-templates/booking_reminder/whatsapp/fr",
        {"body": "Hi", "content_sid": "nope"},
    )
    assert "content_sid" in bad_sid.get_json()["errors"]
    good = api.put(
        "/notification-templates/booking_reminder/whatsapp/fr",
        {
            "body": "Rappel {{ date }}",
            "content_sid": "HX" + "a" * 32,
            "content_variables": ["customer_name", "date", "time"],
        },
    )
    assert good.status_code == 200, good.get_json()
    assert good.get_json()["content_variables"] == ["customer_name", "date", "time"]


def test_unknown_event_channel_or_locale_is_not_found(api):
    assert (
        api.put("/notification-templates/booking_exploded/sms/fr", {"body": "x"}).status_code == 404
    )
    assert (
        api.put("/notification-templates/booking_reminder/fax/fr", {"body": "x"}).status_code == 404
    )
    assert api.delete("/notification-templates/booking_reminder/sms/de").status_code == 404


def test_preview_renders_sample_data_in_the_template_locale(api):
    response = api.post("/notification-templates/booking_confirmed/email/ar/preview", {})
    assert response.status_code == 200
    body = response.get_json()
    assert "سلمى بناني" in body["body"]
    assert "Salon Test" in body["body"] and "تأكيد موعدك" in body["subject"]
    assert "http://bookme.test/m/" in body["body"]
    custom = api.post(
        TEMPLATE + "/preview", {"body": "{{ date }} · {{ time }} · {{ price }} {{ currency }}"}
    )
    assert custom.get_json() == {
        "subject": None,
        "body": "mercredi 5 mai 2027 · 11:30 · 150.00 MAD",
    }
    broken = api.post(TEMPLATE + "/preview", {"body": "{{ nope }}"})
    assert broken.status_code == 422
    assert broken.get_json()["errors"]["body"] == ["Unknown variable: nope"]


def test_a_preview_names_the_part_that_failed_to_render(api):
    email = "/notification-templates/booking_confirmed/email/fr"
    answer = api.post(email + "/preview", {"subject": "{{ customer_name.__class__ }}"})
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"subject"}
    bad = {"subject": "{{ customer_name.__class__ }}", "body": "Bonjour {{ customer_name }}"}
    saved = api.put(email, bad)
    assert set(saved.get_json()["errors"]) == {"subject"}


def test_a_preview_shows_the_subject_on_one_line_as_it_is_sent(api):
    email = "/notification-templates/booking_confirmed/email/fr"
    answer = api.post(email + "/preview", {"subject": "Bonjour\r\n{{ customer_name }}\t!"})
    assert answer.status_code == 200
    assert answer.get_json()["subject"] == "Bonjour Salma Bennani !"


def test_settings_and_whatsapp_templates_read_in_one_round_trip_agree_with_each_read_alone(
    api, salon
):
    """announce() reads both at once; whatever exists, it sees what each reader sees."""
    from bookme.communications import outbox
    from bookme.core import tenancy
    from bookme.tenants.service import tenant_ref_by_slug

    def both_ways() -> dict:
        tenancy.activate(tenant_ref_by_slug(salon.tenant.slug))
        prefs, own = outbox.preferences_and_whatsapp_templates()
        assert prefs == outbox.preferences()
        whatsapp = {k: t for k, t in outbox.overrides().items() if k[1] == "whatsapp"}
        assert {k: t.content_sid for k, t in own.items()} == {
            k: t.content_sid for k, t in whatsapp.items()
        }
        return own

    assert both_ways() == {}  # no settings row, no templates
    body = {"body": "Rappel : {{ service_name }} le {{ date }} à {{ time }}."}
    assert api.put(TEMPLATE, body).status_code == 200
    assert api.put(TEMPLATE.replace("/fr", "/en"), body).status_code == 200
    sid = {"body": "Rappel", "content_sid": "HX" + "b" * 32}
    for locale in ("fr", "ar"):
        path = f"/notification-templates/booking_reminder/whatsapp/{locale}"
        assert api.put(path, sid).status_code == 200
    both_ways()  # templates, still no settings row
    assert api.put("/notification-settings", {"channels": ["sms"]}).status_code == 200
    own = both_ways()  # both
    prefs, _ = outbox.preferences_and_whatsapp_templates()
    assert prefs.channels == ("sms",)
    assert set(own) == {
        ("booking_reminder", "whatsapp", "fr"),
        ("booking_reminder", "whatsapp", "ar"),
    }
