"""Shapes of sessions and check-ins (the patient's reports) and their symptoms."""

from datetime import datetime, timedelta

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.alerts import AlertOut
from api.schemas.common import (
    AwareDateTime,
    InSchema,
    OutSchema,
    Period,
    for_patch,
    one_of,
    strict_boolean,
)
from models import utcnow
from models.report import AREAS, PRESSURES, SYMPTOM_SIDES, TECHNIQUES

GRADE = ma.validate.Range(min=0, max=3)
PAIN = ma.validate.Range(min=0, max=10)
NOTES = ma.validate.Length(max=2000)


# A grade left out (or null) was not reported: a check-in may give pain only. It is kept
# as not reported, never as 0, so that it neither lowers the patient's usual grade nor
# makes their next ordinary report look like a rise.
_NOT_GRADED = "; omitted or null: not reported this time"


def _grade_in(description: str, not_graded: str = _NOT_GRADED) -> ma.fields.Integer:
    return ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=GRADE,
        strict=True,
        metadata={"description": description + not_graded},
    )


def _grade_out(description: str) -> ma.fields.Integer:
    return ma.fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": description + "; null: not reported"},
    )


class SymptomsIn(InSchema):
    numbness = _grade_in("Numbness 0-3 (none, mild, moderate, severe)")
    tingling = _grade_in("Tingling 0-3")
    weakness = _grade_in("Leg weakness 0-3")
    side = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=one_of(SYMPTOM_SIDES),
        metadata={"enum_name": "SymptomSide"},
    )
    bladder_bowel_change = strict_boolean(load_default=False)
    saddle_numbness = strict_boolean(load_default=False)


class SymptomsOut(OutSchema):
    numbness = _grade_out("Numbness 0-3")
    tingling = _grade_out("Tingling 0-3")
    weakness = _grade_out("Leg weakness 0-3")
    side = ma.fields.String(
        required=True,
        allow_none=True,
        validate=one_of(SYMPTOM_SIDES),
        metadata={"enum_name": "SymptomSide"},
    )
    bladder_bowel_change = ma.fields.Boolean(required=True)
    saddle_numbness = ma.fields.Boolean(required=True)


def _pain(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(validate=PAIN, strict=True, **kwargs)


# What an absent `symptoms` loads as: the defaults, from one instance made here.
_NO_SYMPTOMS = SymptomsIn()


class ReportIn(InSchema):
    id = ma.fields.UUID(metadata={"description": "Optional client-generated id (offline)"})
    patient_id = ma.fields.UUID(
        metadata={"description": "Required when a therapist or admin writes for a patient"}
    )
    symptoms = ma.fields.Nested(SymptomsIn, load_default=lambda: _NO_SYMPTOMS.load({}))
    notes = ma.fields.String(load_default=None, allow_none=True, validate=NOTES)


# A report says when it was felt: a phone clock a time zone off, or a typed year, must not
# place it in the future, where it would stand as the latest report for months.
FELT_AHEAD = timedelta(hours=24)


def _felt_by_now(value: datetime) -> None:
    if value > utcnow() + FELT_AHEAD:
        raise ma.ValidationError("Must not be more than 24 hours in the future.")


def _each_once(values: list) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError("Each area once.")


def _felt_at() -> AwareDateTime:
    return AwareDateTime(
        required=True,
        validate=_felt_by_now,
        metadata={"description": "When it was felt: at most 24 hours ahead of the server"},
    )


class SessionIn(ReportIn):
    started_at = _felt_at()
    duration_minutes = ma.fields.Integer(
        required=True, validate=ma.validate.Range(min=1, max=240), strict=True
    )
    technique = ma.fields.String(required=True, validate=one_of(TECHNIQUES))
    pressure = ma.fields.String(required=True, validate=one_of(PRESSURES))
    areas = ma.fields.List(
        ma.fields.String(validate=one_of(AREAS)),
        load_default=list,
        validate=[ma.validate.Length(max=len(AREAS)), _each_once],
    )
    acute_flare = strict_boolean(load_default=False)
    pain_before = _pain(required=True)
    pain_after = _pain(load_default=None, allow_none=True)
    therapist_id = ma.fields.UUID(
        load_default=None,
        allow_none=True,
        metadata={"description": "A therapist the patient has linked (patients only)"},
    )


class CheckInIn(ReportIn):
    recorded_at = _felt_at()
    pain = _pain(required=True)


_KEPT = "; null: not reported; omitted: kept as it is"


@for_patch
class SymptomsUpdateIn(SymptomsIn):
    """What a PATCH changes of the symptoms; those it leaves out are kept."""

    numbness = _grade_in("Numbness 0-3", _KEPT)
    tingling = _grade_in("Tingling 0-3", _KEPT)
    weakness = _grade_in("Leg weakness 0-3", _KEPT)


@for_patch
class SessionUpdateIn(SessionIn):
    symptoms = ma.fields.Nested(SymptomsUpdateIn)

    class Meta:
        exclude = ("id", "patient_id")


@for_patch
class CheckInUpdateIn(CheckInIn):
    symptoms = ma.fields.Nested(SymptomsUpdateIn)

    class Meta:
        exclude = ("id", "patient_id")


class ReportOut(OutSchema):
    id = ma.fields.UUID(required=True)
    patient_id = ma.fields.UUID(required=True)
    symptoms = ma.fields.Nested(SymptomsOut, required=True)
    notes = ma.fields.String(required=True, allow_none=True)
    created_at = AwareDateTime(required=True)
    updated_at = AwareDateTime(required=True)


class SessionOut(ReportOut):
    therapist_id = ma.fields.UUID(required=True, allow_none=True)
    started_at = AwareDateTime(required=True)
    duration_minutes = ma.fields.Integer(required=True)
    technique = ma.fields.String(required=True, validate=one_of(TECHNIQUES))
    pressure = ma.fields.String(required=True, validate=one_of(PRESSURES))
    areas = ma.fields.List(ma.fields.String(validate=one_of(AREAS)), required=True)
    acute_flare = ma.fields.Boolean(required=True)
    pain_before = ma.fields.Integer(required=True)
    pain_after = ma.fields.Integer(required=True, allow_none=True)


class CheckInOut(ReportOut):
    recorded_at = AwareDateTime(required=True)
    pain = ma.fields.Integer(required=True)


def _written_alerts() -> ma.fields.List:
    return ma.fields.List(
        ma.fields.Nested(AlertOut),
        required=True,
        metadata={"description": "Alerts this write raised, updated or resolved"},
    )


class SessionWriteOut(SessionOut):
    alerts = _written_alerts()


class CheckInWriteOut(CheckInOut):
    alerts = _written_alerts()


class ReportQuery(PageArgs, Period):
    patient_id = ma.fields.UUID()
    from_ = AwareDateTime(data_key="from", metadata={"description": "Felt at or after"})
    to = AwareDateTime(metadata={"description": "Felt before"})
