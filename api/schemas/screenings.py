"""Shapes of the pre-session safety screening."""

import marshmallow as ma

from api.schemas.common import InSchema, OutSchema, one_of, strict_boolean
from api.schemas.reports import SymptomsIn
from models.report import AREAS, PRESSURES

VERDICTS = ("proceed", "caution", "do_not_proceed")


class ScreeningIn(InSchema):
    patient_id = ma.fields.UUID(metadata={"description": "Required when a therapist screens"})
    symptoms = ma.fields.Nested(SymptomsIn, load_default=lambda: SymptomsIn().load({}))
    acute_flare = strict_boolean(load_default=False)
    planned_pressure = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=one_of(PRESSURES),
        metadata={"enum_name": "Pressure"},
    )
    planned_areas = ma.fields.List(
        ma.fields.String(validate=one_of(AREAS)),
        load_default=list,
        validate=ma.validate.Length(max=len(AREAS)),
    )


class ReasonOut(OutSchema):
    rule = ma.fields.String(required=True)
    message = ma.fields.String(required=True)


class ScreeningOut(OutSchema):
    verdict = ma.fields.String(required=True, validate=one_of(VERDICTS))
    reasons = ma.fields.List(ma.fields.Nested(ReasonOut), required=True)
