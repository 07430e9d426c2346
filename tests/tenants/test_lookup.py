"""Looking a tenant up by slug: a slug no tenant can have is simply not found."""

from __future__ import annotations

import pytest

from bookme.core import errors
from bookme.tenants import service


@pytest.mark.parametrize(
    "slug",
    ["\x00", "demo\x00", "\x00demo", "demo\n", "Demo", "ab", "x" * 64, "1abc", "café", "", "a b"],
)
def test_a_slug_that_cannot_exist_is_simply_not_found(db, slug):
    assert service.get_by_slug(slug) is None
    with pytest.raises(errors.TenantNotFound):
        service.tenant_ref_by_slug(slug)


def test_a_tenant_is_found_by_its_slug_and_not_by_a_near_miss(db, tenant):
    assert service.get_by_slug(tenant.slug).id == tenant.id
    assert service.tenant_ref_by_slug(tenant.slug).id == tenant.id
    assert service.get_by_slug(tenant.slug + "\x00") is None
    assert service.get_by_slug(tenant.slug.upper()) is None


@pytest.mark.parametrize("header", ["\x00", "demo\x00", "\x00demo"])
def test_a_nul_in_x_tenant_is_404_tenant_not_found(client, tenant, header):
    headers = {**tenant.owner.headers, "X-Tenant": header}
    for path in ("/api/v1/services", "/api/v1/public/availability"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404, response.get_data(as_text=True)
        assert response.get_json()["code"] == "tenant_not_found"
