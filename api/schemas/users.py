"""Shapes of accounts, the caller's profile and authentication."""

import unicodedata
from datetime import date, timedelta

import marshmallow as ma

from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of, strict_boolean
from models import utcnow
from models.user import CAUSES, ROLES, SIDES

PASSWORD_RULES = ma.validate.Length(min=10, max=256)


def _email() -> ma.fields.Email:
    return ma.fields.Email(required=True, validate=ma.validate.Length(max=254))


# Format characters a name may hold: the joiners some scripts and emoji sequences need, and
# the tags of subdivision flags. Every other one (direction marks and overrides, zero-width
# spaces, soft hyphens) changes how a name reads, or hides in it.
_JOINERS = frozenset("\u200c\u200d")
_TAGS = range(0xE0020, 0xE0080)
# Letters that draw nothing: a name of them alone looks blank in a therapist's list.
_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def _readable_name(value: str) -> None:
    """A name is shown in lists, pages, PDFs and SVG charts: text that reads as written,
    on one line, with something to see."""
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp"):
            raise ma.ValidationError("Must not contain control characters or line breaks.")
        if category == "Cf" and char not in _JOINERS and ord(char) not in _TAGS:
            raise ma.ValidationError("Must not contain invisible formatting characters.")
        if (ord(char) & 0xFFFE) == 0xFFFE or 0xFDD0 <= ord(char) <= 0xFDEF:
            raise ma.ValidationError("Must not contain non-characters.")
    seen = [c for c in value if not c.isspace() and c not in _BLANK_LETTERS]
    if not [c for c in seen if unicodedata.category(c) not in ("Cf", "Mn", "Me")]:
        raise ma.ValidationError("Must not be blank.")


def _display_name(**kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=[ma.validate.Length(min=1, max=120), _readable_name],
        metadata={"description": "Shown to the patient's therapists; no control characters"},
        **kwargs,
    )


class RegisterIn(InSchema):
    email = _email()
    password = ma.fields.String(required=True, load_only=True, validate=PASSWORD_RULES)
    display_name = _display_name(required=True)


class UserCreateIn(RegisterIn):
    role = ma.fields.String(required=True, validate=one_of(ROLES))


class UserOut(OutSchema):
    id = ma.fields.UUID(required=True)
    email = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=one_of(ROLES))
    display_name = ma.fields.String(required=True)
    created_at = AwareDateTime(required=True)
    deactivated_at = AwareDateTime(
        allow_none=True, metadata={"description": "Set when an admin deactivated the account"}
    )


class UserStateIn(InSchema):
    active = strict_boolean(
        required=True, metadata={"description": "false deactivates the account, true restores it"}
    )


class MeOut(UserOut):
    affected_side = ma.fields.String(
        attribute="profile.affected_side",
        allow_none=True,
        validate=one_of(SIDES),
        metadata={"enum_name": "AffectedSide"},
    )
    suspected_cause = ma.fields.String(
        attribute="profile.suspected_cause",
        allow_none=True,
        validate=one_of(CAUSES),
        metadata={"enum_name": "SuspectedCause"},
    )
    medically_cleared_at = ma.fields.Date(attribute="profile.medically_cleared_at", allow_none=True)


def _not_after_today(value: date) -> None:
    # A day of grace: the patient's today may be the server's tomorrow (UTC+14).
    if value > utcnow().date() + timedelta(days=1):
        raise ma.ValidationError("A consultation date must not be in the future.")
    if value.year < 1900:
        raise ma.ValidationError("Must be after 1900.")


class MeUpdateIn(InSchema):
    display_name = _display_name()
    affected_side = ma.fields.String(validate=one_of(SIDES))
    suspected_cause = ma.fields.String(validate=one_of(CAUSES))
    medically_cleared_at = ma.fields.Date(
        allow_none=True,
        validate=_not_after_today,
        metadata={
            "description": "The date of the consultation: not after today (the server's, with "
            "a day's grace for time zones ahead of it)"
        },
    )


class PasswordChangeIn(InSchema):
    current_password = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(max=256)
    )
    new_password = ma.fields.String(required=True, load_only=True, validate=PASSWORD_RULES)


class TokenIn(InSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=256))


class RefreshIn(InSchema):
    refresh_token = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(min=1, max=512)
    )


class TokenOut(OutSchema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"enum": ["Bearer"]})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds"})
