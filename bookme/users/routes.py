"""Auth, /me and members."""

from bookme.core.api import Blueprint

blp = Blueprint("users", __name__, description="Users, authentication and members")
