"""Customers test helpers: an HTTP helper bound to a tenant and a way to add bookings."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bookme.core.db import session


class CustomersApi:
    """POST/GET/PATCH/DELETE on /api/v1/customers as one member of one tenant."""

    def __init__(self, client: Any, tenant: Any, member: Any = None) -> None:
        self.client = client
        self.tenant = tenant
        self.member = member

    def as_(self, member: Any) -> CustomersApi:
        return CustomersApi(self.client, self.tenant, member)

    @property
    def headers(self) -> dict[str, str]:
        return self.tenant.headers(self.member)

    def create(self, **body: Any) -> Any:
        body.setdefault("full_name", "Salma Bennani")
        return self.client.post("/api/v1/customers", json=body, headers=self.headers)

    def created(self, **body: Any) -> dict[str, Any]:
        response = self.create(**body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, path: str = "", **params: Any) -> Any:
        return self.client.get(
            f"/api/v1/customers{path}", query_string=params, headers=self.headers
        )

    def patch(self, customer_id: str, **body: Any) -> Any:
        return self.client.patch(
            f"/api/v1/customers/{customer_id}", json=body, headers=self.headers
        )

    def delete(self, customer_id: str) -> Any:
        return self.client.delete(f"/api/v1/customers/{customer_id}", headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1/customers{path}", json=body, headers=self.headers)

    def search(self, **params: Any) -> list[dict[str, Any]]:
        response = self.get(**params)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def api(client: Any, tenant: Any) -> CustomersApi:
    return CustomersApi(client, tenant)


def insert_booking(
    customer_id: str | uuid.UUID,
    starts_at: datetime,
    status: str = "confirmed",
    *,
    service: Any,
    staff: Any,
    minutes: int = 30,
    notes: str | None = None,
) -> uuid.UUID:
    """A booking row written straight to the table (the booking use cases are not needed)."""
    booking_id = uuid.uuid4()
    ends_at = starts_at + timedelta(minutes=minutes)
    session().execute(
        sa.text(
            """
            INSERT INTO bookings (id, service_id, staff_id, customer_id, starts_at, ends_at,
                blocked, status, source, price, currency, notes, cancelled_at,
                manage_token_hash, manage_token_encrypted)
            VALUES (:id, :service_id, :staff_id, :customer_id, :starts_at, :ends_at,
                tstzrange(:starts_at, :ends_at), :status, 'admin', 80, 'MAD', :notes,
                :cancelled_at, :hash, 'x')
            """
        ),
        {
            "id": booking_id,
            "service_id": service.id,
            "staff_id": staff.id,
            "customer_id": uuid.UUID(str(customer_id)),
            "starts_at": starts_at,
            "ends_at": ends_at,
            "status": status,
            "notes": notes,
            "cancelled_at": starts_at if status == "cancelled" else None,
            "hash": os.urandom(32),
        },
    )
    return booking_id
