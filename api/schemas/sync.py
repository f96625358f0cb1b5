"""Shapes of the delta sync feed."""

import marshmallow as ma

from api.pagination import CURSOR_PATTERN
from api.schemas.alerts import AlertOut
from api.schemas.common import AwareDateTime, OutSchema, one_of
from api.schemas.reports import CheckInOut, SessionOut

DATA_SCHEMAS = {"session": SessionOut(), "checkin": CheckInOut(), "alert": AlertOut()}


class SyncQuery(ma.Schema):
    cursor = ma.fields.String(
        load_default=None,
        validate=[ma.validate.Length(max=512), ma.validate.Regexp(CURSOR_PATTERN)],
        metadata={"description": "The next_cursor of the previous page; none for a full sync"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=200))


class SyncChangeOut(OutSchema):
    type = ma.fields.String(attribute="kind", required=True, validate=one_of(tuple(DATA_SCHEMAS)))
    id = ma.fields.Function(lambda change: str(change.record.id), required=True)
    op = ma.fields.Function(
        lambda change: "delete" if change.deleted_at else "upsert",
        required=True,
        metadata={"enum": ["upsert", "delete"]},
    )
    deleted_at = AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "Set on tombstones: deleted, or access to the patient ended"},
    )
    data = ma.fields.Method(
        "_data",
        required=True,
        allow_none=True,
        metadata={"description": "The record as its own endpoint returns it; null on tombstones"},
    )

    def _data(self, change):
        if change.deleted_at:
            return None
        return DATA_SCHEMAS[change.kind].dump(change.record)


class SyncOut(OutSchema):
    changes = ma.fields.List(ma.fields.Nested(SyncChangeOut), required=True)
    next_cursor = ma.fields.String(required=True)
    has_more = ma.fields.Boolean(required=True)
