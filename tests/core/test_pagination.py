"""The X-Pagination header: every key on every page, one rule for an empty list, documented."""

from __future__ import annotations

import json

import pytest

from bookme.core.api import Blueprint

KEYS = {"total", "total_pages", "page", "first_page", "last_page", "previous_page", "next_page"}


def _meta(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])


def test_an_empty_list_is_one_empty_page(client, tenant):
    response = client.get("/api/v1/services", headers=tenant.headers())
    assert response.get_json() == []
    assert _meta(response) == {
        "total": 0, "total_pages": 1, "page": 1, "first_page": 1, "last_page": 1,
        "previous_page": None, "next_page": None,
    }  # fmt: skip


def test_past_the_end_of_an_empty_list_points_back_to_its_one_page(client, tenant):
    response = client.get("/api/v1/services", query_string={"page": 3}, headers=tenant.headers())
    assert response.get_json() == []
    meta = _meta(response)
    assert (meta["page"], meta["last_page"], meta["previous_page"], meta["next_page"]) == (
        3, 1, 1, None,
    )  # fmt: skip


@pytest.mark.parametrize("page_size", [1, 2, 5])
@pytest.mark.parametrize("total", [0, 1, 4, 5, 6])
def test_the_keys_agree_with_each_other_on_every_page(total, page_size):
    for page in range(1, 10):
        meta = Blueprint._make_pagination_metadata(page, page_size, total)
        assert set(meta) == KEYS
        assert meta["first_page"] == 1 <= meta["last_page"] == meta["total_pages"]
        # The last page holds an item, unless the list has none; the page before it is full.
        assert (meta["last_page"] - 1) * page_size < total or total == 0
        assert meta["last_page"] * page_size >= total
        assert meta["next_page"] == (page + 1 if page < meta["last_page"] else None)
        assert meta["previous_page"] == (min(page - 1, meta["last_page"]) if page > 1 else None)


def test_the_header_and_its_empty_list_rule_are_documented(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    header = spec["components"]["headers"]["PAGINATION"]
    assert "An empty list is one empty page" in header["description"]
    schema = spec["components"]["schemas"][header["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == KEYS
    assert set(schema["required"]) == KEYS
    nullable = {name for name, field in schema["properties"].items() if field.get("nullable")}
    assert nullable == {"previous_page", "next_page"}
