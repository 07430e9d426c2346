"""Languages: every message in French and Arabic, placeholders intact, right-to-left Arabic,
dates and money formatted per language in the business's time zone."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

import bookme
from bookme.admin import i18n
from tests.admin.conftest import book
from tests.admin.html import Page

ROOT = Path(bookme.__file__).parent
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _source_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("admin", "manage", "account"):
        for _, _, message, _, _ in extract_from_dir(str(ROOT / folder), METHODS, keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def _catalog(language: str):
    with i18n.po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def test_the_source_has_messages_to_translate():
    assert len(_source_messages()) > 300


@pytest.mark.parametrize("language", ["fr", "ar", "en"])
def test_every_message_of_the_pages_is_in_each_catalog(language):
    catalog = _catalog(language)
    ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}
    missing = _source_messages() - ids
    assert not missing, sorted(missing)


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_french_and_arabic_translate_everything_with_the_same_placeholders(language):
    catalog = _catalog(language)
    untranslated = [
        m.id for m in catalog if m.id and not (all(m.string) if m.pluralizable else m.string)
    ]
    assert not untranslated
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    problems = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check() if errs]
    assert not problems


def test_catalogs_compile_in_memory():
    for language in i18n.LANGUAGES:
        assert i18n.catalog(language).gettext("Bookings")
    assert i18n.catalog("fr").gettext("Bookings") == "Réservations"
    assert i18n.catalog("ar").gettext("Bookings") == "الحجوزات"
    assert i18n.catalog("en").gettext("Bookings") == "Bookings"


@pytest.mark.parametrize(
    ("language", "direction", "heading", "nav"),
    [
        ("fr", "ltr", "mardi 4 mai 2027", "Réservations"),
        ("ar", "rtl", "الثلاثاء، 4 ماي 2027", "الحجوزات"),  # Moroccan month names
        ("en", "ltr", "Tuesday, 4 May 2027", "Bookings"),
    ],
)
def test_each_language_renders_its_words_direction_and_dates(
    signed_in, client, salon, language, direction, heading, nav
):
    book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    browser.send(browser.page("/admin/"), "language", lang=language)
    response = browser.get("/admin/?date=2027-05-04")
    assert f'<html lang="{language}" dir="{direction}">' in response.text
    page = Page(response.text)
    assert heading in page.text("main")
    assert nav in page.html
    # Latin digits, a 24-hour clock, and times kept left to right inside Arabic text.
    assert '<bdi dir="ltr">10:00–10:30</bdi>' in response.text  # noqa: RUF001


def test_money_is_formatted_per_language(signed_in, client, salon):
    created = book(client, salon, "2027-05-04 10:00")
    browser = signed_in("owner")
    url = f"/admin/bookings/{created['id']}"
    assert "80,00\xa0MAD" in browser.get(url).text
    browser.send(browser.page(url), "language", lang="ar")
    assert "80,00\xa0د.م." in browser.get(url).text


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "لا حجوزات"), (1, "حجز واحد"), (2, "حجزان"), (5, "5 حجوزات"), (48, "48 حجزًا"),
     (100, "100 حجز"), (111, "111 حجزًا"), (205, "205 حجوزات")],
)  # fmt: skip
def test_arabic_counts_take_the_six_plural_forms_the_cldr_way(count, expected):
    text = i18n.catalog("ar").ngettext("%(num)d booking", "%(num)d bookings", count)
    assert text % {"num": count} == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [("ar-MA,fr;q=0.5", "ar"), ("en-GB,en;q=0.9,fr;q=0.8", "en"), ("de-DE,de;q=0.9", "fr"),
     ("de,ar;q=0.3", "ar"), ("fr-MA", "fr"), ("", "fr"), ("*", "fr")],
)  # fmt: skip
def test_the_browsers_first_supported_language_is_chosen(app, header, expected):
    with app.test_request_context("/", headers={"Accept-Language": header}):
        assert i18n.choose_language() == expected
