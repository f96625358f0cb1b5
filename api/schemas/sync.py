"""Shapes of the delta sync feed: each change typed by its `type` (session, check-in, alert)."""

import marshmallow as ma

from api.pagination import CURSOR_PATTERN
from api.schemas.alerts import AlertOut
from api.schemas.common import AwareDateTime, OneOfNested, OutSchema
from api.schemas.reports import CheckInOut, SessionOut


class SyncQuery(ma.Schema):
    cursor = ma.fields.String(
        load_default=None,
        validate=[ma.validate.Length(max=512), ma.validate.Regexp(CURSOR_PATTERN)],
        metadata={"description": "The next_cursor of the previous page; none for a full sync"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=200))


class _ChangeOut(OutSchema):
    id = ma.fields.UUID(attribute="record.id", required=True)
    deleted_at = AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "Set on tombstones: deleted, or access to the patient ended"},
    )


def _data(schema: type[OutSchema], name: str) -> ma.fields.Nested:
    return ma.fields.Nested(
        schema,
        attribute="live_record",
        required=True,
        allow_none=True,
        metadata={"description": f"The {name} as its own endpoint returns it; null on tombstones"},
    )


def _op() -> ma.fields.Function:
    return ma.fields.Function(
        lambda change: "delete" if change.deleted_at else "upsert",
        required=True,
        metadata={"type": "string", "enum": ["upsert", "delete"]},
    )


def _kind(kind: str) -> ma.fields.Constant:
    return ma.fields.Constant(kind, required=True, metadata={"type": "string", "enum": [kind]})


class SessionChangeOut(_ChangeOut):
    type = _kind("session")
    op = _op()
    data = _data(SessionOut, "session")


class CheckInChangeOut(_ChangeOut):
    type = _kind("checkin")
    op = _op()
    data = _data(CheckInOut, "check-in")


class AlertChangeOut(_ChangeOut):
    type = _kind("alert")
    op = _op()
    data = _data(AlertOut, "alert")


CHANGE_SCHEMAS = {"session": SessionChangeOut, "checkin": CheckInChangeOut, "alert": AlertChangeOut}


class SyncOut(OutSchema):
    changes = ma.fields.List(
        OneOfNested(CHANGE_SCHEMAS, kind=lambda change: change.kind),
        required=True,
        metadata={"description": "In change order; `type` tells which record `data` holds"},
    )
    next_cursor = ma.fields.String(required=True)
    has_more = ma.fields.Boolean(required=True)
