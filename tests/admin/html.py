"""Just enough HTML reading for the admin tests: forms as a browser would submit them, and
elements by id. (html.parser from the standard library; no third-party parser needed.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class Form:
    id: str | None
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # what submitting it sends
    names: set[str] = field(default_factory=set)  # every control's name, checked or not
    options: dict[str, list[str]] = field(default_factory=dict)  # radio/checkbox/select values

    def data(self, **changes: Any) -> dict[str, Any]:
        """The submitted values, with `changes` replacing a field (a list for several values,
        None to leave it out)."""
        values: dict[str, Any] = {}
        for name, value in self.fields:
            if name in values:
                current = values[name]
                values[name] = [*current, value] if isinstance(current, list) else [current, value]
            else:
                values[name] = value
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return values


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.ids: dict[str, dict[str, str]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._form: Form | None = None
        self._select: tuple[str, list[str], list[str]] | None = None
        self._option: dict[str, str] | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self.text_by_id: dict[str, list[str]] = {}
        self._open_ids: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids[attrs["id"]] = {"tag": tag, **attrs}
            if tag not in _VOID:
                self._open_ids.append((tag, attrs["id"]))
                self.text_by_id[attrs["id"]] = []
        if tag == "form":
            self._form = Form(
                attrs.get("id"), attrs.get("action", ""), attrs.get("method", "get").lower()
            )
            self.forms.append(self._form)
        form = self._form
        if form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            form.names.add(name)
            if kind in ("checkbox", "radio"):
                form.options.setdefault(name, []).append(attrs.get("value", "on"))
                if "checked" in attrs:
                    form.fields.append((name, attrs.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset", "file"):
                form.fields.append((name, attrs.get("value", "")))
        elif tag == "select" and name and "disabled" not in attrs:
            form.names.add(name)
            self._select = (name, [], [])
        elif tag == "option" and self._select is not None:
            self._option = attrs
            self._select[1].append(attrs.get("value", ""))
            if "selected" in attrs:
                self._select[2].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            form.names.add(name)
            self._textarea = (name, [])

    def handle_endtag(self, tag: str) -> None:
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, values, selected = self._select
            self._form.options[name] = values
            chosen = selected or values[:1]
            self._form.fields.extend((name, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            name, parts = self._textarea
            text = "".join(parts)
            # As browsers do: one newline right after <textarea> is not part of the value.
            text = text[2:] if text.startswith("\r\n") else text.removeprefix("\n")
            self._form.fields.append((name, text))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)
        for _, element_id in self._open_ids:
            self.text_by_id[element_id].append(data)


_VOID = {"input", "br", "img", "meta", "link", "hr", "source", "area", "base", "col", "wbr"}


class Page:
    """A rendered page: its forms, elements by id, and text."""

    def __init__(self, html: str) -> None:
        self.html = html
        reader = _Reader()
        reader.feed(html)
        self.forms = reader.forms
        self.ids = reader.ids
        self.tags = reader.tags
        self._text = reader.text_by_id

    def form(self, form_id: str) -> Form:
        for form in self.forms:
            if form.id == form_id:
                return form
        raise AssertionError(f"no form #{form_id}; forms: {[f.id for f in self.forms]}")

    def has_form(self, form_id: str) -> bool:
        return any(f.id == form_id for f in self.forms)

    def text(self, element_id: str) -> str:
        return " ".join("".join(self._text[element_id]).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def links(self) -> set[str]:
        return {a["href"] for t, a in self.tags if t == "a" and "href" in a}
