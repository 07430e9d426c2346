"""Request and response shapes for auth, /me and members."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from bookme.core.api import AwareDateTime, Schema, Str, TenantDateTime
from bookme.users.models import ROLES
from bookme.users.passwords import MAX_LENGTH, MIN_LENGTH

EMAIL_MAX = 254  # RFC 5321 path limit
TOKEN_MAX = 128


class EmailAddress(ma.fields.Email):
    """An email address, trimmed and lower-cased (accounts are matched case-insensitively)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=ma.validate.Length(max=EMAIL_MAX), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class Password(ma.fields.String):
    """A new password: 10 to 256 characters, not only spaces."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            load_only=True,
            validate=[
                ma.validate.Length(min=MIN_LENGTH, max=MAX_LENGTH),
                ma.validate.Predicate("strip", error="The password cannot be only spaces."),
            ],
            metadata={"format": "password"},
            **kwargs,
        )


class RegisterSchema(Schema):
    email = EmailAddress(required=True)
    password = Password(required=True)
    full_name = Str(200, min_length=1, required=True)

    @ma.post_load
    def _trim(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["full_name"] = data["full_name"].strip()
        if not data["full_name"]:
            raise ma.ValidationError({"full_name": ["A name is required."]})
        return data


class LoginSchema(Schema):
    email = Str(EMAIL_MAX, required=True)
    password = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(max=MAX_LENGTH)
    )


class TokenPairSchema(Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Lifetime of the access token, in seconds"}
    )


class ForgotPasswordSchema(Schema):
    email = EmailAddress(required=True)


class ResetPasswordSchema(Schema):
    token = Str(TOKEN_MAX, min_length=1, required=True)
    password = Password(required=True)


class VerifyEmailSchema(Schema):
    token = Str(TOKEN_MAX, min_length=1, required=True)


class AcceptedSchema(Schema):
    """A 202: the request is taken; what follows happens by email."""

    detail = ma.fields.String(dump_only=True)


class UserSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    email = ma.fields.String(dump_only=True)
    full_name = ma.fields.String(dump_only=True)
    email_verified = ma.fields.Function(
        lambda user: user.email_verified_at is not None, dump_only=True
    )
    created_at = AwareDateTime(dump_only=True)


class TenantBriefSchema(Schema):
    id = ma.fields.UUID(dump_only=True)
    slug = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True, metadata={"enum": ["active", "suspended"]})


class MembershipSchema(Schema):
    tenant = ma.fields.Nested(TenantBriefSchema, dump_only=True)
    role = ma.fields.String(dump_only=True, metadata={"enum": list(ROLES)})


class MeSchema(UserSchema):
    memberships = ma.fields.List(
        ma.fields.Nested(MembershipSchema),
        dump_only=True,
        metadata={"description": "The businesses the user belongs to and their role in each"},
    )


class MemberSchema(Schema):
    user_id = ma.fields.UUID(dump_only=True)
    email = ma.fields.String(attribute="user.email", dump_only=True)
    full_name = ma.fields.String(attribute="user.full_name", dump_only=True)
    role = ma.fields.String(dump_only=True, metadata={"enum": list(ROLES)})
    created_at = TenantDateTime(
        dump_only=True, metadata={"description": "When the user became a member"}
    )


class MemberCreateSchema(Schema):
    email = EmailAddress(
        required=True,
        metadata={"description": "An existing BookMe account's email (the user registers first)"},
    )
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))


class MemberUpdateSchema(Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
