"""Field types and base schemas shared by the resources."""

import copy
from datetime import UTC, datetime, timedelta

import marshmallow as ma
from marshmallow import ValidationError

# The times the API accepts anywhere (bodies, filters, cursors), and the offsets: real time
# zones span -12:00 to +14:00.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_OFFSET = timedelta(hours=14)
TIME_RULES = (
    "ISO 8601 with a UTC offset within ±14:00, from 1900-01-01 to 2200-01-01; returned in UTC"
)


class Period(ma.Schema):
    """A query's `from` and `to` (the fields `from_` and `to` of the subclass): `from` may not
    be after `to`. One check, so that every period query refuses alike."""

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ma.ValidationError("Must not be after 'to'.", "from")


class AwareDateTime(ma.fields.AwareDateTime):
    """ISO 8601 with an offset in, UTC out."""

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}))
        described = metadata.get("description")
        metadata["description"] = f"{described} ({TIME_RULES})" if described else TIME_RULES
        super().__init__(format="iso", metadata=metadata, **kwargs)

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if abs(parsed.utcoffset()) > MAX_OFFSET:
            raise ValidationError("The UTC offset must be within ±14:00.")
        if not EARLIEST <= parsed <= LATEST:
            raise ValidationError("Must be between 1900 and 2200.")
        return parsed.astimezone(UTC)


def for_patch(schema: type[ma.Schema]) -> type[ma.Schema]:
    """``schema`` (a subclass made for PATCH) without its fields' load defaults.

    A partial load applies none, but the contract shows them: a generated client then
    sends each default with every PATCH, and changing one field reset the others (a
    red flag cleared, the notes emptied). The fields are copies: the create schema keeps
    its defaults."""
    for name, field in list(schema._declared_fields.items()):
        if field.load_default is not ma.missing:
            field = copy.copy(field)
            field.load_default = ma.missing
            schema._declared_fields[name] = field
    return schema


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
    """Output shapes: dumped from models, never loaded.

    Dumped as marshmallow dumps them, with less work per field: each field's value is read
    with one ``getattr`` or key lookup as marshmallow's own accessor would find it
    (marshmallow passes every field through four calls to find it: half the time of a page
    of sessions), then formatted by the field itself. Rows and dotted ``attribute`` paths
    are read by marshmallow's accessor, and fields that read no attribute (Function,
    Constant) are dumped by marshmallow as before.
    """

    def _serialize(self, obj, *, many: bool = False):
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        fields, plan = self.__dict__.get("_dump_plan", (None, None))
        if fields is not self.dump_fields:  # first dump, or fields set again (Nested's only)
            plan = _dump_plan(self)
            self._dump_plan = (self.dump_fields, plan)
        plain = not hasattr(obj, "__getitem__")
        mapping = type(obj) is dict
        dumped = self.dict_class()
        for key, attr_name, name, plain_name, field in plan:
            if name is None:  # reads no attribute
                value = field.serialize(attr_name, obj, accessor=self.get_attribute)
                if value is not ma.missing:
                    dumped[key] = value
                continue
            if plain_name is None or not (plain or mapping):
                value = self.get_attribute(obj, name, ma.missing)
            elif plain or plain_name not in obj:
                value = getattr(obj, plain_name, ma.missing)
            else:
                value = obj[plain_name]
            if value is ma.missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is ma.missing:
                    continue
            dumped[key] = field._serialize(value, attr_name, obj)
        return dumped


def _dump_plan(schema: ma.Schema) -> list[tuple]:
    """Per field: its output key, its name in the schema, the attribute it reads (None: it
    reads none), that attribute again when it is a plain name (None when dotted), the field."""
    plan = []
    for attr_name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        if not field._CHECK_ATTRIBUTE:
            plan.append((key, attr_name, None, None, field))
            continue
        name = attr_name if field.attribute is None else field.attribute
        plan.append((key, attr_name, name, None if "." in name else name, field))
    return plan


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


class OneOfNested(ma.fields.Field):
    """One of several output shapes, chosen per value by `kind(value)`; documented as a
    `oneOf` with a discriminator on the shapes' `type` (api/openapi.py)."""

    def __init__(self, schemas: dict[str, type[ma.Schema]], *, kind, **kwargs):
        super().__init__(**kwargs)
        self.schemas = schemas
        self.kind = kind
        self._instances = {name: schema() for name, schema in schemas.items()}

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return self._instances[self.kind(value)].dump(value)
