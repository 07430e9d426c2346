"""Liveness, readiness and the offline API docs assets."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint as FlaskBlueprint
from flask import current_app, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from bookme.core.api import Blueprint, Schema
from bookme.core.db import session

blp = Blueprint("health", __name__, description="Liveness and readiness probes")
assets = FlaskBlueprint("docs_assets", __name__)


class HealthSchema(Schema):
    status = ma.fields.String(metadata={"example": "ok"})
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


@blp.route("/healthz")
@blp.response(200, HealthSchema)
def healthz() -> dict[str, Any]:
    """Liveness: the process answers"""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="PostgreSQL or Redis does not answer")
def readyz() -> Any:
    """Readiness: PostgreSQL and Redis answer"""
    checks: dict[str, str] = {}
    try:
        session().execute(sa.text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception:
        session().rollback()
        checks["postgres"] = "unavailable"
    try:
        current_app.extensions["bookme.redis"].ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503


@assets.route("/api/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> Any:
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
