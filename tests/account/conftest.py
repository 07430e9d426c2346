"""The account pages' tests issue their tokens through the API, as a user would get them."""

from __future__ import annotations

from tests.users.conftest import run_jobs  # noqa: F401 - a fixture, shared
