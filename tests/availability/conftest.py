"""Fixtures of the availability tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import use_tenant


@pytest.fixture
def tref(tenant: Any) -> Any:
    """The test tenant, active for factories and service calls (a TenantRef)."""
    return use_tenant(tenant)
