"""Tenant endpoints: /tenants, /tenants/{slug}, domains."""

from bookme.core.api import Blueprint

blp = Blueprint("tenants", __name__, description="Tenants (businesses) and their domains")
