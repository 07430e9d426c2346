"""The interactive API docs render in a real browser from local files only."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _spec_paths(live_server: str) -> set[str]:
    with urllib.request.urlopen(f"{live_server}/api/openapi.json", timeout=10) as response:
        return set(json.loads(response.read())["paths"])


def test_api_docs_list_every_operation_without_leaving_the_machine(live_server, page, artifacts):
    expected = _spec_paths(live_server)
    assert {"/healthz", "/readyz"} <= expected

    page.goto(f"{live_server}/api/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    rendered = set(
        page.eval_on_selector_all(
            ".opblock-summary-path",
            "nodes => nodes.map(n => n.getAttribute('data-path') || n.textContent.trim())",
        )
    )
    page.screenshot(path=str(artifacts / "api-docs.png"))
    page.screenshot(path=str(artifacts / "api-docs-full.png"), full_page=True)

    assert rendered == {path.replace("\u200b", "") for path in expected}
    assert "BookMe API" in page.title() or "BookMe API" in page.content()
    hosts = {urlsplit(url).hostname for url in page.requests if urlsplit(url).scheme != "data"}
    assert hosts <= LOOPBACK, f"requests left the machine: {sorted(hosts - LOOPBACK)}"
    assert any(url.endswith("/api/docs/assets/swagger-ui-bundle.js") for url in page.requests)
