"""Shapes of care links."""

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of
from models.care_link import LINK_STATUSES


class CareLinkIn(InSchema):
    therapist_email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))


class CareLinkOut(OutSchema):
    id = ma.fields.UUID(required=True)
    patient_id = ma.fields.UUID(required=True)
    therapist_id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True, validate=one_of(LINK_STATUSES))
    created_at = AwareDateTime(required=True)
    ended_at = AwareDateTime(allow_none=True)


class CareLinkQuery(PageArgs):
    status = ma.fields.String(validate=one_of(LINK_STATUSES))
