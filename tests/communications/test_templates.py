"""Shipped templates: complete, valid, natural per locale, and SMS within two segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bookme.communications import templates
from bookme.communications.models import CHANNELS, EVENTS, LOCALES

# Realistic and on the long side: what a Moroccan salon's SMS carries.
SAMPLE = {
    "customer_name": "Salma Bennani-Alaoui",
    "business_name": "Salon Yasmine Agdal",  # 19 characters
    "service_name": "Coupe et brushing",
    "staff_name": "Nadia El Idrissi",
    "duration_minutes": 45,
    "price": Decimal("150.00"),
    "currency": "MAD",
    "manage_url": "https://bookme.ma/m/" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",  # a 192-bit token
    "timezone": "Africa/Casablanca",
}


def _rendered(template: templates.Template, starts_at: datetime) -> str:
    ctx = templates.context(starts_at=starts_at, locale=template.locale, **SAMPLE)
    return templates.render(template.body, ctx)


def test_every_event_channel_and_locale_ships_a_template():
    shipped = templates.all_defaults()
    assert {(t.event, t.channel, t.locale) for t in shipped} == {
        (e, c, loc) for e in EVENTS for c in CHANNELS for loc in LOCALES
    }
    for template in shipped:
        assert templates.problems(template.body) == [], template
        if template.channel == "email":
            assert template.subject and templates.problems(template.subject) == []


def test_defaults_use_only_documented_variables_and_carry_the_manage_link_where_useful():
    for template in templates.all_defaults():
        text = _rendered(template, datetime(2027, 5, 4, 9, 0, tzinfo=UTC))
        assert "{{" not in text and "}}" not in text
        if template.channel != "sms" and template.event not in (
            "booking_cancelled",
            "payment_refunded",
        ):
            assert SAMPLE["manage_url"] in text, (template.event, template.channel, template.locale)


def test_defaults_are_written_in_their_own_language():
    starts = datetime(2027, 5, 4, 9, 0, tzinfo=UTC)
    reminder = {t.locale: _rendered(t, starts) for t in templates.all_defaults()
                if t.event == "booking_reminder" and t.channel == "whatsapp"}  # fmt: skip
    assert "rappel" in reminder["fr"].lower() and "mardi 4 mai 2027" in reminder["fr"]
    assert "reminder" in reminder["en"].lower() and "Tuesday, May 4, 2027" in reminder["en"]
    assert (
        "نذكرك" in reminder["ar"] and "الثلاثاء، 4 ماي 2027" in reminder["ar"]
    )  # Moroccan month names
    assert "10:00" in reminder["fr"] and "10:00" in reminder["ar"]


@pytest.mark.parametrize("locale", LOCALES)
def test_sms_defaults_fit_in_two_segments_on_every_day_of_the_year(locale):
    first = datetime(2027, 1, 1, 9, 30, tzinfo=UTC)
    sms = [t for t in templates.all_defaults() if t.channel == "sms" and t.locale == locale]
    assert len(sms) == len(EVENTS)
    for template in sms:
        for day in range(365):
            text = templates.sms_text(_rendered(template, first + timedelta(days=day)))
            assert templates.sms_segments(text) <= 2, (template.event, len(text), text)
            if locale == "ar":
                assert not templates.is_gsm7(text)  # Arabic goes as UCS-2: 134 characters
                assert len(text) <= 134
            else:
                assert templates.is_gsm7(text), text  # French keeps GSM-7: 306 characters


def test_segments_count_gsm7_and_ucs2_as_carriers_do():
    assert templates.sms_segments("a" * 160) == 1
    assert templates.sms_segments("a" * 161) == 2
    assert templates.sms_segments("a" * 306) == 2
    assert templates.sms_segments("a" * 307) == 3
    assert templates.sms_segments("€" * 80) == 1  # extended characters take two septets
    assert templates.sms_segments("€" * 81) == 2
    assert templates.sms_segments("ب" * 70) == 1
    assert templates.sms_segments("ب" * 71) == 2
    assert templates.sms_segments("ب" * 134) == 2
    assert templates.sms_segments("ب" * 135) == 3


def test_french_look_alikes_keep_an_sms_in_gsm7_but_arabic_is_left_alone():
    typed = "Rendez-vous le 3 août à 10h, à bientôt \u2013 l\u2019équipe"  # en dash, apostrophe
    assert templates.sms_text(typed) == ("Rendez-vous le 3 aout à 10h, à bientot - l'équipe")
    arabic = "تذكير: موعدك غدا \u2013 الساعة 10:00"
    assert templates.sms_text(arabic) == arabic


def test_dates_and_times_are_local_to_the_tenant_and_formatted_for_the_locale():
    # The day Casablanca moves from UTC+0 to UTC+1: 09:00 UTC is 10:00 local.
    starts = datetime(2027, 3, 14, 9, 0, tzinfo=UTC)
    base = {k: v for k, v in SAMPLE.items()}
    fr = templates.context(starts_at=starts, locale="fr", **base)
    assert (fr["date"], fr["time"], fr["starts_at"]) == (
        "dimanche 14 mars 2027",
        "10:00",
        "2027-03-14T10:00:00+01:00",
    )
    assert (
        templates.context(starts_at=starts, locale="en", **base)["date"] == "Sunday, March 14, 2027"
    )
    assert templates.context(starts_at=starts, locale="ar", **base)["date"] == "الأحد، 14 مارس 2027"
    before = templates.context(starts_at=starts - timedelta(hours=24), locale="fr", **base)
    assert (before["date"], before["time"]) == ("samedi 13 mars 2027", "09:00")
    paris = templates.context(starts_at=starts, locale="fr", **{**base, "timezone": "Europe/Paris"})
    assert paris["time"] == "10:00" and paris["starts_at"].endswith("+01:00")


def test_email_html_is_escaped_linked_and_right_to_left_for_arabic():
    html = templates.html_body(
        "Bonjour <Salma> & co\n\nLien : https://bookme.ma/m/abc", locale="fr", subject="Sujet"
    )
    assert "Bonjour &lt;Salma&gt; &amp; co" in html
    assert '<a href="https://bookme.ma/m/abc">https://bookme.ma/m/abc</a>' in html
    assert '<html lang="fr" dir="ltr">' in html
    assert '<html lang="ar" dir="rtl">' in templates.html_body("مرحبا", locale="ar", subject="x")


def test_rendering_is_sandboxed_and_strict():
    ctx = templates.context(starts_at=datetime(2027, 5, 4, 9, tzinfo=UTC), locale="fr", **SAMPLE)
    with pytest.raises(templates.TemplateProblem):
        templates.render("{{ customer_name.__class__.__base__.__subclasses__() }}", ctx)
    with pytest.raises(templates.TemplateProblem):
        templates.render("{{ missing }}", ctx)
    assert templates.render("{{ customer_name|upper }}", ctx) == "SALMA BENNANI-ALAOUI"
    assert (
        templates.render("{% if price %}{{ price }} {{ currency }}{% endif %}", ctx) == "150.00 MAD"
    )
