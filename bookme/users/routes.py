"""Auth, /me and members."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response as FlaskResponse
from flask_smorest.pagination import PaginationParameters

from bookme.core.api import Blueprint
from bookme.core.clock import now
from bookme.core.ratelimit import body_field
from bookme.extensions import limiter
from bookme.users import access, service
from bookme.users.schemas import (
    AcceptedSchema,
    ForgotPasswordSchema,
    LoginSchema,
    MemberCreateSchema,
    MemberSchema,
    MemberUpdateSchema,
    MeSchema,
    RegisterSchema,
    ResetPasswordSchema,
    TokenPairSchema,
    UserSchema,
    VerifyEmailSchema,
)

blp = Blueprint("users", __name__, description="Users, authentication and members")

# Rate limits (API.md): per client address (after BOOKME_TRUSTED_PROXIES) and per account.
LOGIN_PER_ADDRESS = "10/minute"
LOGIN_FAILURES_PER_ACCOUNT = "20/hour"
FORGOT_PER_ACCOUNT = "5/hour"
FORGOT_PER_ADDRESS = "10/minute"
REGISTER_PER_ADDRESS = "10/hour"
RESEND_PER_ACCOUNT = "5/hour"


def account_key() -> str:
    """The normalised email of the request body: the account's limit holds across addresses."""
    return body_field("email")


def signed_in_user_key() -> str:
    return f"user:{access.current_actor().user_id}"


def login_failed(response: FlaskResponse) -> bool:
    return response.status_code == 401


def _email_language() -> str:
    """The language of the emails a request causes: its Accept-Language among fr, ar and en,
    else French (no request field for it: the API's contract is unchanged)."""
    # Imported here, not at the top: bookme.admin's package imports its views, which import this
    # module.
    from bookme.admin import i18n

    return i18n.choose_language()


def _family(claims: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(claims["fam"]))
    except (KeyError, ValueError):
        return None


# --- auth -------------------------------------------------------------------------------------


@blp.route("/auth/register", methods=["POST"])
@access.anonymous
@limiter.limit(REGISTER_PER_ADDRESS)
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
@blp.problems(409, 422, 429)
def register(args: dict[str, Any]) -> Any:
    """Create an account

    Passwords are 10 to 256 characters. A verification email with a single-use link
    (valid 48 hours) is sent; `POST /auth/email/verify` takes its token. An email already
    in use is 409 `email_taken`. At most 10 sign-ups an hour per client address.
    """
    return service.register(**args, now=now(), language=_email_language())


@blp.route("/auth/login", methods=["POST"])
@access.anonymous
@limiter.limit(LOGIN_PER_ADDRESS)
@limiter.limit(LOGIN_FAILURES_PER_ACCOUNT, key_func=account_key, deduct_when=login_failed)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.problems(401, 422, 429)
def login(args: dict[str, Any]) -> Any:
    """Sign in: an access token and a refresh token

    A failure is 401 with the same message whether or not the email exists. Rate limits:
    10 attempts a minute per client address, and 20 failures an hour per account (from any
    address; while that limit lasts even the right password gets 429 `rate_limited`).
    An unverified email does not prevent signing in; `GET /me` shows `email_verified`.
    """
    return service.login(**args, now=now())


@blp.route("/auth/refresh", methods=["POST"])
@access.refresh_token
@blp.no_body()
@blp.response(200, TokenPairSchema)
@blp.problems(401)
def refresh() -> Any:
    """Exchange a refresh token (sent as Bearer) for a new pair

    Each refresh token works once: the old one is revoked. Presenting an already used or
    revoked refresh token is 401 and revokes its whole sign-in (every refresh and access
    token descended from the same login).
    """
    claims = access.token_claims()
    return service.refresh_session(
        user_id=access.current_actor().user_id,
        jti=str(claims["jti"]),
        family_id=_family(claims),
        now=now(),
    )


@blp.route("/auth/logout", methods=["POST"])
@access.authenticated
@blp.no_body()
@blp.response(204)
@blp.problems(401)
def logout() -> None:
    """Sign out: revoke the presented access token and its refresh tokens"""
    claims = access.token_claims()
    service.logout(
        jti=str(claims["jti"]),
        family_id=_family(claims),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        now=now(),
    )


@blp.route("/auth/password/forgot", methods=["POST"])
@access.anonymous
@limiter.limit(FORGOT_PER_ADDRESS)
@limiter.limit(FORGOT_PER_ACCOUNT, key_func=account_key)
@blp.arguments(ForgotPasswordSchema)
@blp.response(202, AcceptedSchema)
@blp.problems(422, 429)
def forgot_password(args: dict[str, Any]) -> Any:
    """Email a password-reset link

    Always 202, whether or not an account uses the email. The link holds a single-use
    token valid for 60 minutes. At most 5 requests an hour per account and 10 a minute
    per client address.
    """
    service.request_password_reset(email=args["email"], now=now(), language=_email_language())
    return {"detail": "If an account uses this email, a reset link is on its way."}


@blp.route("/auth/password/reset", methods=["POST"])
@access.anonymous
@blp.arguments(ResetPasswordSchema)
@blp.response(204)
@blp.problems(422)
def reset_password(args: dict[str, Any]) -> None:
    """Set a new password with a reset token

    The token works once. An unknown, used or expired token is 422 `validation_error` on
    `token`. Every sign-in of the account (refresh and access tokens) is revoked.
    """
    service.reset_password(**args, now=now())


@blp.route("/auth/email/verify", methods=["POST"])
@access.anonymous
@blp.arguments(VerifyEmailSchema)
@blp.response(204)
@blp.problems(422)
def verify_email(args: dict[str, Any]) -> None:
    """Confirm an email address with the token from the verification email

    The token works once and expires after 48 hours; an unknown, used or expired token is
    422 `validation_error` on `token`.
    """
    service.verify_email(**args, now=now())


@blp.route("/auth/email/resend", methods=["POST"])
@access.authenticated
@limiter.limit(RESEND_PER_ACCOUNT, key_func=signed_in_user_key)
@blp.no_body()
@blp.response(202, AcceptedSchema)
@blp.problems(401, 429)
def resend_verification() -> Any:
    """Send a new verification email to the signed-in user

    Nothing is sent when the email is already verified. At most 5 an hour per account.
    """
    service.resend_verification(actor=access.current_actor(), now=now(), language=_email_language())
    return {"detail": "Unless the email is already verified, a new link is on its way."}


@blp.route("/me", methods=["GET"])
@access.authenticated
@blp.response(200, MeSchema)
@blp.problems(401)
def me() -> Any:
    """The signed-in user and their memberships

    `memberships` lists each business the user belongs to, by name, as
    `{"tenant": {"id", "slug", "name", "status"}, "role"}`.
    """
    return service.get_profile(actor=access.current_actor())


# --- members (tenant-scoped, owner only) -------------------------------------------------------


@blp.route("/members", methods=["GET"])
@access.member("owner")
@blp.response(200, MemberSchema(many=True))
@blp.paginate()
@blp.problems(400, 401, 403, 404)
def list_members(pagination_parameters: PaginationParameters) -> Any:
    """List the business's members (owner only)

    Owners first, then managers, then staff; by name within each role.
    """
    return service.list_members(tenant=access.current_tenant(), pagination=pagination_parameters)


@blp.route("/members", methods=["POST"])
@access.member("owner")
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def add_member(args: dict[str, Any]) -> Any:
    """Add a member (owner only)

    `email` must belong to an existing account (the person registers first); otherwise
    422 `validation_error` on `email`. Someone already a member is 409 `conflict`.
    """
    return service.add_member(tenant=access.current_tenant(), actor=access.current_actor(), **args)


def _known_member(user_id: uuid.UUID) -> None:
    service.get_member(tenant=access.current_tenant(), user_id=user_id)


@blp.route("/members/<uuid:user_id>", methods=["PATCH"])
@access.member("owner")
@access.found(_known_member)
@blp.arguments(MemberUpdateSchema)
@blp.response(200, MemberSchema)
@blp.problems(400, 401, 403, 404, 409, 422)
def change_member_role(args: dict[str, Any], user_id: uuid.UUID) -> Any:
    """Change a member's role (owner only)

    Demoting the last owner is 409 `conflict`.
    """
    return service.change_member_role(
        tenant=access.current_tenant(), actor=access.current_actor(), user_id=user_id, **args
    )


@blp.route("/members/<uuid:user_id>", methods=["DELETE"])
@access.member("owner")
@blp.response(204)
@blp.problems(400, 401, 403, 404, 409)
def remove_member(user_id: uuid.UUID) -> None:
    """Remove a member (owner only)

    Removing the last owner is 409 `conflict`.
    """
    service.remove_member(
        tenant=access.current_tenant(), actor=access.current_actor(), user_id=user_id
    )
