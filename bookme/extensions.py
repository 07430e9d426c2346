"""Extension instances, created unbound and attached in create_app."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from bookme.core.api import Api
from bookme.core.db import Base
from bookme.core.ratelimit import client_address
from bookme.users.verified import CachingJWTManager

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
api = Api()
jwt = CachingJWTManager()
limiter = Limiter(key_func=client_address)
