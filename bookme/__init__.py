"""BookMe: multi-tenant appointment booking."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis
from werkzeug.middleware.proxy_fix import ProxyFix

from bookme.config import Settings
from bookme.core.api import JSONProvider
from bookme.core.db import ENGINE_CONNECT_ARGS


def create_app(settings: Settings | None = None, **flask_config: Any) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.update(
        BOOKME=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": False,  # see core.db.ping_on_checkout
            "pool_size": 10,
            "max_overflow": 20,
            "connect_args": ENGINE_CONNECT_ARGS,
        },
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=settings.access_token_minutes * 60,
        JWT_REFRESH_TOKEN_EXPIRES=settings.refresh_token_days * 86400,
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STRATEGY="fixed-window",
        API_TITLE="BookMe API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "BookMe HTTP API v1. Errors are RFC 9457 problem details "
                    "(application/problem+json) with a stable `code`."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
        PROPAGATE_UNEXPECTED=False,
    )
    app.config.update(flask_config)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from bookme.core import logging as core_logging

    core_logging.configure(settings.log_json)
    if settings.sentry_dsn:
        _init_sentry(settings)

    from bookme.extensions import api, db, jwt, limiter, migrate
    from bookme.modules import import_models

    import_models()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    jwt.init_app(app)
    from bookme.users.tokens import register_callbacks as register_jwt_callbacks

    register_jwt_callbacks(jwt)
    limiter.init_app(app)
    app.extensions["bookme.redis"] = Redis.from_url(settings.redis_url)
    api.init_app(app)

    from bookme.core import db as core_db
    from bookme.core import errors, http
    from bookme.tenants.service import origin_allowed

    errors.register(app, html_renderer=_html_error)
    core_db.register(app)
    http.register(app, tenant_origins=origin_allowed)

    _register_blueprints(app)

    from bookme.cli import register as register_cli

    register_cli(app)

    @app.teardown_appcontext
    def _reset_tenant(exc: BaseException | None) -> None:
        from bookme.core import tenancy

        tenancy._current.set(None)

    return app


def _migrations_dir() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _register_blueprints(app: Flask) -> None:
    from bookme.core.health import assets
    from bookme.core.health import blp as health
    from bookme.extensions import api
    from bookme.modules import API_BLUEPRINTS, WEB_BLUEPRINTS

    api.register_blueprint(health, url_prefix="/")
    app.register_blueprint(assets)
    for blp in API_BLUEPRINTS():
        api.register_blueprint(blp, url_prefix="/api/v1")
    for blp in WEB_BLUEPRINTS():
        app.register_blueprint(blp)


def _html_error(error: Any) -> Any:
    from flask import Response
    from markupsafe import escape

    body = f"<!doctype html><title>{escape(error.title)}</title><h1>{escape(error.title)}</h1>"
    if error.detail:
        body += f"<p>{escape(error.detail)}</p>"
    return Response(body, status=error.status, mimetype="text/html")


def _init_sentry(settings: Settings) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env,
        integrations=[FlaskIntegration(), RqIntegration()],
        send_default_pii=False,
        traces_sample_rate=0.0,
    )
