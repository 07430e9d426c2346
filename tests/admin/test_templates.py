"""Every template compiles (a syntax error must not wait for the page that uses it)."""

from __future__ import annotations

from pathlib import Path

import bookme

ROOT = Path(bookme.__file__).parent
TEMPLATE_DIRS = [ROOT / name / "templates" for name in ("admin", "manage", "account")]


def _names() -> list[str]:
    return sorted(
        str(path.relative_to(folder)) for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")
    )


def test_there_are_templates_for_every_page(app):
    names = _names()
    assert "admin/base.html" in names and "manage/booking.html" in names
    assert len(names) >= 40


def test_every_template_loads(app):
    for name in _names():
        template = app.jinja_env.get_template(name)
        assert template is not None, name


def test_every_page_fills_the_title_block_its_heading_comes_from(app):
    for name in _names():
        source = app.jinja_env.loader.get_source(app.jinja_env, name)[0]
        if "{% extends" in source:
            assert "{% block title %}" in source, name
