"""The manage page's tests use the admin's small salon (one service, Nadia and Karim)."""

from __future__ import annotations

from tests.admin.conftest import salon  # noqa: F401 - a fixture, shared
