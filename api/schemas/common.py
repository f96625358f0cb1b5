"""Field types and base schemas shared by the resources."""

from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import ValidationError

# The times the API accepts anywhere (bodies, filters, cursors).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class AwareDateTime(ma.fields.AwareDateTime):
    """ISO 8601 with an offset in, UTC out."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= parsed <= LATEST:
            raise ValidationError("Must be between 1900 and 2200.")
        return parsed.astimezone(UTC)


class InSchema(ma.Schema):
    """Input shapes reject unknown fields (no mass assignment) and NUL characters."""

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _refuse_nul(self, data, **kwargs):
        # PostgreSQL cannot store NUL in text and SQLite would: refuse it on both alike.
        if _holds_nul(data):
            raise ma.ValidationError("Text must not contain NUL characters.", "_schema")
        return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


class OutSchema(ma.Schema):
    """Output shapes: dumped from models, never loaded."""


def one_of(values: tuple[str, ...]) -> ma.validate.OneOf:
    return ma.validate.OneOf(values)


class StrictBoolean(ma.fields.Boolean):
    """true or false only: 0, 1, "yes" and friends are refused, as the contract says."""

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def strict_boolean(**kwargs) -> StrictBoolean:
    return StrictBoolean(**kwargs)
