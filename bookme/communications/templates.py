"""Message templates: shipped defaults, sandboxed rendering, checks, locale formats, SMS size.

Templates are Jinja2 in an immutable sandbox with a closed set of variables (API.md) and no
loops, macros or imports: a tenant's template can read those variables and nothing else.
"""

from __future__ import annotations

import functools
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bookme.communications.models import CHANNELS, EVENTS, LOCALES

VARIABLES = (
    "customer_name", "business_name", "service_name", "staff_name", "date", "time",
    "starts_at", "duration_minutes", "price", "currency", "manage_url",
)  # fmt: skip
MAX_RENDERED = 10_000
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
# Babel formats dates per locale; Arabic for Moroccan customers keeps Western digits.
BABEL_LOCALES = {"fr": "fr_MA", "ar": "ar_MA", "en": "en"}
RTL_LOCALES = frozenset({"ar"})

_FORBIDDEN_NODES = (
    nodes.For, nodes.Macro, nodes.CallBlock, nodes.Call, nodes.Include, nodes.Import,
    nodes.FromImport, nodes.Extends, nodes.Block, nodes.Assign, nodes.AssignBlock,
    nodes.FilterBlock, nodes.With, nodes.Scope,
)  # fmt: skip

_env = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class TemplateProblem(ValueError):
    """A template that cannot be saved or rendered; the message names what is wrong."""


@dataclass(frozen=True)
class Template:
    event: str
    channel: str
    locale: str
    subject: str | None
    body: str
    content_sid: str | None = None
    content_variables: tuple[str, ...] = ()
    is_default: bool = True


# --- shipped defaults -------------------------------------------------------------------------


@functools.cache
def _defaults_file(locale: str) -> dict[str, Any]:
    with (DEFAULTS_DIR / f"{locale}.toml").open("rb") as handle:
        return tomllib.load(handle)


def default_template(event: str, channel: str, locale: str) -> Template:
    entry = _defaults_file(locale)[event][channel]
    return Template(
        event=event,
        channel=channel,
        locale=locale,
        subject=entry.get("subject") if channel == "email" else None,
        body=entry["body"],
    )


def all_defaults() -> list[Template]:
    return [
        default_template(event, channel, locale)
        for event in EVENTS
        for channel in CHANNELS
        for locale in LOCALES
    ]


def reply_text(locale: str, key: str, **values: str) -> str:
    """The answer to an inbound reply, in `locale` (`str.format` fields, not Jinja)."""
    replies = _defaults_file(locale if locale in LOCALES else "fr")["replies"]
    return replies[key].format(**values)


# --- checking and rendering -------------------------------------------------------------------


def problems(source: str) -> list[str]:
    """What is wrong with a template's source (empty when it can be saved)."""
    return list(_problems(source))


@functools.lru_cache(maxsize=1024)
def _problems(source: str) -> tuple[str, ...]:
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        return (f"Syntax error on line {exc.lineno}: {exc.message}",)
    found = []
    for node in tree.find_all(_FORBIDDEN_NODES):
        found.append(f"Line {node.lineno}: only variables, filters and conditions are allowed.")
        break
    names = sorted({n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} - set(VARIABLES))
    found.extend(f"Unknown variable: {name}" for name in names)
    return tuple(found)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a checked template; raises TemplateProblem rather than sending a broken text."""
    bad = problems(source)
    if bad:
        raise TemplateProblem("; ".join(bad))
    try:
        text = _compiled(source).render(**context)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        raise TemplateProblem(f"The template failed to render: {exc}") from exc
    if len(text) > MAX_RENDERED:
        raise TemplateProblem(f"The rendered text is longer than {MAX_RENDERED} characters.")
    return text.strip()


# Control characters, and the separators `str.splitlines` also breaks lines at.
_LINE_BREAKS = re.compile(r"\s*[\x00-\x1f\x7f-\x9f\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """`text` on one line (a subject, a header): each run of line breaks or other control
    characters becomes one space, so data can neither break a header nor add one."""
    return _LINE_BREAKS.sub(" ", text).strip()


def context(
    *,
    customer_name: str,
    business_name: str,
    service_name: str,
    staff_name: str,
    starts_at: datetime,
    duration_minutes: int,
    price: Decimal,
    currency: str,
    manage_url: str,
    timezone: str,
    locale: str,
) -> dict[str, Any]:
    """The variables of API.md, with the instant shown in the tenant's zone and `locale`."""
    local = starts_at.astimezone(zoneinfo.ZoneInfo(timezone))
    return {
        "customer_name": customer_name,
        "business_name": business_name,
        "service_name": service_name,
        "staff_name": staff_name,
        "date": format_date(local.date(), format="full", locale=BABEL_LOCALES[locale]),
        "time": local.strftime("%H:%M"),
        "starts_at": local.isoformat(),
        "duration_minutes": duration_minutes,
        "price": f"{Decimal(price):.2f}",
        "currency": currency,
        "manage_url": manage_url,
    }


# --- email bodies -----------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s<>\"']+")


def html_body(text: str, *, locale: str, subject: str) -> str:
    """The HTML part of an email: the plain text, escaped, in paragraphs, with links."""
    direction = "rtl" if locale in RTL_LOCALES else "ltr"
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [_linkify(escape(line)) for line in block.splitlines()]
        paragraphs.append("<p>" + "<br>\n".join(lines) + "</p>")
    return (
        f'<!doctype html>\n<html lang="{locale}" dir="{direction}">\n<head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n"
        '<body style="font-family: sans-serif; line-height: 1.5; text-align: start">\n'
        + "\n".join(paragraphs)
        + "\n</body>\n</html>\n"
    )


def _linkify(escaped_line: str) -> str:
    return _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped_line)


# --- SMS encoding and size --------------------------------------------------------------------

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Look-alikes outside GSM-7 that would otherwise turn a whole Latin-script SMS into UCS-2
# (70 characters a segment instead of 160), as carriers' "smart encoding" does.
_GSM7_SUBSTITUTES = str.maketrans(
    {
        "â": "a", "á": "a", "ã": "a", "ê": "e", "ë": "e", "î": "i", "ï": "i", "í": "i",
        "ô": "o", "ó": "o", "õ": "o", "û": "u", "ú": "u", "ç": "c", "œ": "oe", "Œ": "OE",
        "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I", "Ô": "O",
        "Û": "U", "Ù": "U", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
        "«": '"', "»": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ",
        "\u202f": " ", "\u2009": " ",
    }
)  # fmt: skip


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def sms_text(text: str) -> str:
    """The SMS as sent: GSM-7 look-alikes substituted when that keeps it GSM-7."""
    substituted = text.translate(_GSM7_SUBSTITUTES)
    return substituted if is_gsm7(substituted) else text


def sms_segments(text: str) -> int:
    """How many segments `text` takes: GSM-7 160/153 septets, else UCS-2 70/67 code units."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)
