"""Marshmallow schemas of the account endpoints (wire names in camelCase)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,32}$"
MIN_PASSWORD_CHARS = 8
#: Long passphrases are welcome (they are pre-hashed); this only stops abuse.
MAX_PASSWORD_BYTES = 1024


def _password_size(value: str) -> None:
    if len(value) < MIN_PASSWORD_CHARS:
        raise ValidationError(f"Must be at least {MIN_PASSWORD_CHARS} characters.")
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError(f"Must be at most {MAX_PASSWORD_BYTES} bytes.")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class CredentialsSchema(StrictSchema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            USERNAME_PATTERN,
            error="3-32 characters: letters, digits, '_', '.' or '-'.",
        ),
    )
    password = fields.String(required=True, validate=_password_size)


class LoginSchema(StrictSchema):
    # Login does not re-validate the name pattern: an old or odd name must still
    # get the uniform "wrong username or password", not a hint.
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class ChangePasswordSchema(StrictSchema):
    current_password = fields.String(
        required=True, data_key="currentPassword", validate=validate.Length(max=1024)
    )
    new_password = fields.String(required=True, data_key="newPassword", validate=_password_size)


class UserSchema(Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)


class TokenResponseSchema(Schema):
    user = fields.Nested(UserSchema, required=True)
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)


def user_json(user: Any) -> dict[str, str]:
    return {"id": user.id, "username": user.username}
