"""Shapes of the therapist's patient list, caseload and reports."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma

from api.pagination import PageArgs
from api.schemas.alerts import AlertOut
from api.schemas.common import AwareDateTime, InSchema, OutSchema, Period, one_of
from models.report import PRESSURES, TECHNIQUES

TRENDS = ("improving", "stable", "worsening")


class OpenAlertsOut(OutSchema):
    urgent = ma.fields.Integer(required=True)
    warning = ma.fields.Integer(required=True)
    caution = ma.fields.Integer(required=True)
    info = ma.fields.Integer(required=True)


class PatientRowOut(OutSchema):
    patient_id = ma.fields.UUID(required=True)
    display_name = ma.fields.String(required=True)
    latest_pain_before = ma.fields.Integer(required=True, allow_none=True)
    latest_pain_after = ma.fields.Integer(required=True, allow_none=True)
    last_session_at = AwareDateTime(required=True, allow_none=True)
    trend = ma.fields.String(required=True, validate=one_of(TRENDS))
    open_alerts = ma.fields.Nested(OpenAlertsOut, required=True)


class CaseloadOut(OutSchema):
    items = ma.fields.List(
        ma.fields.Nested(PatientRowOut),
        required=True,
        metadata={
            "description": "Most urgent first: open urgent alerts, warnings, worsening trend"
        },
    )


class ReportWindowQuery(Period):
    from_ = AwareDateTime(data_key="from", metadata={"description": "Felt at or after"})
    to = AwareDateTime(metadata={"description": "Felt before"})


class ReportPageQuery(ReportWindowQuery):
    tz = ma.fields.String(
        validate=ma.validate.Length(max=64),
        metadata={
            "description": "IANA time zone for the times shown (default: the clinic's, "
            "CLINIC_TIMEZONE)",
            "example": "Europe/Paris",
        },
    )

    @ma.validates("tz")
    def _known_zone(self, value, **kwargs):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ma.ValidationError("Not an IANA time zone (such as Europe/Paris).") from exc


class ChartQuery(ReportPageQuery):
    include = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(["info"])),
        load_default=list,
        metadata={"description": "`info` also marks info alerts (hidden by default)"},
    )


class ReportLinksIn(InSchema):
    """No fields: send `{}` (every POST here takes a JSON body). The period and time zone
    are chosen when a link is opened (`from`, `to`, `tz` in its query)."""


class ReportLinkOut(OutSchema):
    html_url = ma.fields.Url(
        required=True, metadata={"description": "The printable page (text/html)"}
    )
    chart_url = ma.fields.Url(required=True, metadata={"description": "The chart (image/svg+xml)"})
    pdf_url = ma.fields.Url(required=True, metadata={"description": "The report (application/pdf)"})
    expires_at = AwareDateTime(
        required=True,
        metadata={"description": "The links stop working then, or at once on sign-out"},
    )


class PatientsQuery(PageArgs):
    pass


def _effect_fields() -> dict:
    share = {"required": True, "allow_none": True}
    return {
        "with_pain_after": ma.fields.Integer(
            required=True, metadata={"description": "Sessions with both pains"}
        ),
        "mean_change": ma.fields.Float(
            **share, metadata={"description": "Mean of pain_after - pain_before"}
        ),
        "improved_share": ma.fields.Float(**share, metadata={"description": "Change <= -2"}),
        "worsened_share": ma.fields.Float(**share, metadata={"description": "Change >= +2"}),
    }


TechniqueEffectOut = ma.Schema.from_dict(
    {
        "technique": ma.fields.String(required=True, validate=one_of(TECHNIQUES)),
        "sessions": ma.fields.Integer(required=True),
        **_effect_fields(),
    },
    name="TechniqueEffectOut",
)
PressureEffectOut = ma.Schema.from_dict(
    {
        "pressure": ma.fields.String(required=True, validate=one_of(PRESSURES)),
        "sessions": ma.fields.Integer(required=True),
        **_effect_fields(),
    },
    name="PressureEffectOut",
)


class PatientReportOut(OutSchema):
    patient_id = ma.fields.UUID(required=True)
    from_ = AwareDateTime(data_key="from", attribute="from", required=True, allow_none=True)
    to = AwareDateTime(required=True, allow_none=True)
    session_count = ma.fields.Integer(required=True)
    checkin_count = ma.fields.Integer(required=True)
    mean_pain_before = ma.fields.Float(required=True, allow_none=True)
    mean_pain_after = ma.fields.Float(required=True, allow_none=True)
    mean_checkin_pain = ma.fields.Float(required=True, allow_none=True)
    with_pain_after = ma.fields.Integer(required=True)
    mean_change = ma.fields.Float(required=True, allow_none=True)
    improved_share = ma.fields.Float(required=True, allow_none=True)
    worsened_share = ma.fields.Float(required=True, allow_none=True)
    trend = ma.fields.String(required=True, validate=one_of(TRENDS))
    by_technique = ma.fields.List(ma.fields.Nested(TechniqueEffectOut), required=True)
    by_pressure = ma.fields.List(ma.fields.Nested(PressureEffectOut), required=True)
    alerts = ma.fields.List(ma.fields.Nested(AlertOut), required=True)


class TechniqueRowOut(OutSchema):
    technique = ma.fields.String(required=True, validate=one_of(TECHNIQUES))
    pressure = ma.fields.String(required=True, validate=one_of(PRESSURES))
    patients = ma.fields.Integer(required=True)
    sessions = ma.fields.Integer(required=True)
    with_pain_after = ma.fields.Integer(required=True)
    mean_change = ma.fields.Float(required=True, allow_none=True)
    improved_share = ma.fields.Float(required=True, allow_none=True)
    worsened_share = ma.fields.Float(required=True, allow_none=True)


class TechniquesOut(OutSchema):
    items = ma.fields.List(ma.fields.Nested(TechniqueRowOut), required=True)
