"""Settings: read once from the environment, validated, then frozen."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the known value production refuses


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/bookme"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEV_SECRET
    jwt_secret_key: str = DEV_SECRET
    sentry_dsn: str | None = None
    public_base_url: str = "http://localhost:8000"
    base_domain: str = "bookme.localhost"
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: int = 0
    encryption_keys: tuple[str, ...] = ()
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = "none"
    mail_from: str = "BookMe <no-reply@bookme.localhost>"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base: str | None = None
    stripe_api_base: str | None = None
    paypal_api_base: str | None = None
    rq_queue: str = "default"
    notify_dispatch_seconds: int = 5
    notify_lease_seconds: int = 120
    notify_send_timeout_seconds: int = 20
    notify_concurrency: int = 32
    notify_batch_size: int = 100
    notify_redispatch_seconds: int = 60
    notify_status_poll_minutes: int = 15
    ratelimit_enabled: bool = True
    log_json: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_testing(self) -> bool:
        return self.env == "testing"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "env": env.get("BOOKME_ENV", "development"),
            "database_url": _sqlalchemy_url(env.get("DATABASE_URL") or cls.database_url),
            "redis_url": env.get("REDIS_URL") or cls.redis_url,
            "secret_key": env.get("SECRET_KEY") or DEV_SECRET,
            "jwt_secret_key": env.get("JWT_SECRET_KEY") or env.get("SECRET_KEY") or DEV_SECRET,
            "sentry_dsn": env.get("SENTRY_DSN") or None,
            "public_base_url": (env.get("PUBLIC_BASE_URL") or cls.public_base_url).rstrip("/"),
            "base_domain": env.get("BOOKME_BASE_DOMAIN") or cls.base_domain,
            "cors_origins": _list(env.get("CORS_ORIGINS")),
            "trusted_proxies": int(env.get("BOOKME_TRUSTED_PROXIES") or 0),
            "encryption_keys": _list(env.get("BOOKME_ENCRYPTION_KEYS")),
            "smtp_host": env.get("SMTP_HOST") or None,
            "smtp_port": int(env.get("SMTP_PORT") or 25),
            "smtp_username": env.get("SMTP_USERNAME") or None,
            "smtp_password": env.get("SMTP_PASSWORD") or None,
            "smtp_tls": (env.get("SMTP_TLS") or "none").lower(),
            "mail_from": env.get("MAIL_FROM") or cls.mail_from,
            "twilio_account_sid": env.get("TWILIO_ACCOUNT_SID") or None,
            "twilio_auth_token": env.get("TWILIO_AUTH_TOKEN") or None,
            "twilio_sms_from": env.get("TWILIO_SMS_FROM") or None,
            "twilio_whatsapp_from": env.get("TWILIO_WHATSAPP_FROM") or None,
            "twilio_api_base": env.get("TWILIO_API_BASE") or None,
            "stripe_api_base": env.get("STRIPE_API_BASE") or None,
            "paypal_api_base": env.get("PAYPAL_API_BASE") or None,
            "rq_queue": env.get("BOOKME_RQ_QUEUE") or "default",
            **_notify_settings(env),
            "ratelimit_enabled": _bool(env.get("BOOKME_RATELIMIT_ENABLED"), True),
            "log_json": _bool(env.get("BOOKME_LOG_JSON"), True),
        }
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in {"development", "testing", "production"}:
            raise ConfigError("BOOKME_ENV must be development, testing or production")
        if self.smtp_tls not in {"starttls", "ssl", "none"}:
            raise ConfigError("SMTP_TLS must be starttls, ssl or none")
        if self.trusted_proxies < 0:
            raise ConfigError("BOOKME_TRUSTED_PROXIES must be zero or more")
        for name, variable in _NOTIFY_ENV.items():
            if getattr(self, name) < 1:
                raise ConfigError(f"{variable} must be at least 1")
        if self.notify_lease_seconds <= 2 * self.notify_send_timeout_seconds:
            raise ConfigError(
                "BOOKME_NOTIFY_LEASE_SECONDS must exceed twice BOOKME_NOTIFY_SEND_TIMEOUT_SECONDS "
                "(a send still in flight must never be taken for a lost one)"
            )
        if self.is_production:
            for name in ("secret_key", "jwt_secret_key"):
                value = getattr(self, name)
                if not value or value == DEV_SECRET or len(value) < 32:
                    raise ConfigError(
                        f"{name.upper()} must be set to a random value of 32+ characters "
                        "in production"
                    )
            if not self.encryption_keys:
                raise ConfigError("BOOKME_ENCRYPTION_KEYS must be set in production")


_NOTIFY_ENV = {
    "notify_dispatch_seconds": "BOOKME_NOTIFY_DISPATCH_SECONDS",
    "notify_lease_seconds": "BOOKME_NOTIFY_LEASE_SECONDS",
    "notify_send_timeout_seconds": "BOOKME_NOTIFY_SEND_TIMEOUT_SECONDS",
    "notify_concurrency": "BOOKME_NOTIFY_CONCURRENCY",
    "notify_batch_size": "BOOKME_NOTIFY_BATCH_SIZE",
    "notify_redispatch_seconds": "BOOKME_NOTIFY_REDISPATCH_SECONDS",
    "notify_status_poll_minutes": "BOOKME_NOTIFY_STATUS_POLL_MINUTES",
}


def _notify_settings(env: Any) -> dict[str, int]:
    """Outbox tuning (BOOKME_NOTIFY_*): whole numbers, defaults from the dataclass."""
    values = {}
    for name, variable in _NOTIFY_ENV.items():
        raw = env.get(variable)
        if raw:
            try:
                values[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable} must be a whole number") from exc
    return values


def _sqlalchemy_url(url: str) -> str:
    """Accept Heroku-style postgres:// URLs and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
