"""Shapes of audit events."""

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, OutSchema, Period


class AuditEventOut(OutSchema):
    id = ma.fields.UUID(required=True)
    occurred_at = AwareDateTime(required=True)
    actor_id = ma.fields.UUID(required=True, allow_none=True)
    actor_role = ma.fields.String(required=True, allow_none=True)
    action = ma.fields.String(required=True)
    resource_type = ma.fields.String(required=True)
    resource_id = ma.fields.String(required=True, allow_none=True)
    patient_id = ma.fields.UUID(required=True, allow_none=True)
    outcome = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    request_id = ma.fields.String(required=True, allow_none=True)
    ip = ma.fields.String(required=True, allow_none=True)
    row_count = ma.fields.Integer(required=True, allow_none=True)


class AuditQuery(PageArgs, Period):
    actor_id = ma.fields.UUID()
    patient_id = ma.fields.UUID()
    action = ma.fields.String(validate=ma.validate.Length(max=64))
    from_ = AwareDateTime(data_key="from")
    to = AwareDateTime()
