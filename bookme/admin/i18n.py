"""Languages of the server-rendered pages: French (default), Arabic (right to left), English.

Catalogs are the `.po` files in `bookme/translations/<lang>/LC_MESSAGES/`; they are compiled in
memory the first time a language is used, so no build step or writable package folder is
needed (the production image runs as an unprivileged user on a read-only tree).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import flask_babel
from babel import Locale, support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import g, has_request_context, request
from flask_babel import get_locale

from bookme.core import tenancy

LANGUAGES = ("fr", "ar", "en")
DEFAULT_LANGUAGE = "fr"
LANGUAGE_NAMES = {"fr": "Français", "ar": "العربية", "en": "English"}
# How each language formats dates, times and money: Morocco's usage (24-hour clock, Latin
# digits for Arabic), which Babel's plain `ar` and `en` locales don't follow.
FORMAT_LOCALES = {"fr": "fr", "ar": "ar_MA", "en": "en_GB"}
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"


def po_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"


@functools.cache
def catalog(language: str) -> support.Translations:
    """The compiled catalog of `language` (fuzzy entries left out, as msgfmt does)."""
    if language not in LANGUAGES:
        raise ValueError(language)
    with po_path(language).open("rb") as handle:
        messages = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return support.Translations(fp=compiled, domain="messages")


class CatalogDomain(flask_babel.Domain):
    """Flask-Babel's domain, answered from the in-memory catalogs."""

    def get_translations(self) -> Any:
        if not has_request_context():
            return support.NullTranslations()
        return catalog(current_language())


class Babel(flask_babel.Babel):
    @functools.cached_property
    def domain_instance(self) -> flask_babel.Domain:
        return CatalogDomain()


babel = Babel()


def current_language() -> str:
    locale = get_locale() if has_request_context() else None
    language = locale.language if locale is not None else DEFAULT_LANGUAGE
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def text_direction() -> str:
    return "rtl" if Locale.parse(current_language()).text_direction == "rtl" else "ltr"


def choose_language(*candidates: str | None) -> str:
    """The first supported language among `candidates`, then the browser's, then French."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    if has_request_context():
        # The client's order wins, by primary subtag: `ar-MA, fr;q=0.5` is Arabic (werkzeug's
        # best_match would prefer the exact `fr` listed after it).
        for tag, _quality in request.accept_languages:
            primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
            if primary in LANGUAGES:
                return primary
    return DEFAULT_LANGUAGE


def select_locale() -> str:
    """Flask-Babel's locale selector: the language a view chose (`g.language`), formatted the
    Moroccan way."""
    language = g.get("language") or choose_language()
    return FORMAT_LOCALES[language]


def select_timezone() -> str:
    """Dates and times are shown in the tenant's zone."""
    tenant = tenancy.current()
    return g.get("timezone") or (tenant.timezone if tenant is not None else "UTC")


def use_language(language: str, timezone: str | None = None) -> None:
    """Render this request in `language` (and `timezone`), whatever was resolved before."""
    g.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    if timezone is not None:
        g.timezone = timezone
    flask_babel.refresh()
