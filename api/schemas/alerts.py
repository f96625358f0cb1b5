"""Shapes of alerts and their lifecycle actions."""

import marshmallow as ma

import analyzer
from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of
from models.alert import ALERT_STATUSES, OUTCOMES, RESOLUTIONS, SEVERITIES

RULE_CODES = tuple(analyzer.RULES)
TEXT = ma.validate.Length(min=1, max=2000)


def _number(description: str, **kwargs) -> ma.fields.Raw:
    """A number dumped as the analyzer wrote it (3 stays 3, 2.5 stays 2.5)."""
    return ma.fields.Raw(metadata={"type": "number", "description": description}, **kwargs)


def _int(description: str) -> ma.fields.Integer:
    return ma.fields.Integer(metadata={"description": description})


def _text(description: str, **kwargs) -> ma.fields.String:
    return ma.fields.String(metadata={"description": description}, **kwargs)


def _ints(description: str) -> ma.fields.List:
    return ma.fields.List(ma.fields.Integer(), metadata={"description": description})


def _texts(description: str) -> ma.fields.List:
    return ma.fields.List(ma.fields.String(), metadata={"description": description})


def _ids(description: str, **kwargs) -> ma.fields.List:
    return ma.fields.List(ma.fields.UUID(), metadata={"description": description}, **kwargs)


class EvidenceItemOut(OutSchema):
    """One firing of the rule: which reports, when felt, and the numbers the rule compared.
    Besides key, felt_at, severity and report_ids, the fields present depend on the rule."""

    key = ma.fields.String(
        required=True, metadata={"description": "Stable for the same data (de-duplication)"}
    )
    felt_at = ma.fields.String(
        required=True,
        metadata={"format": "date-time", "description": "When the triggering report was felt"},
    )
    severity = ma.fields.String(required=True, validate=one_of(SEVERITIES))
    report_ids = _ids("The sessions and check-ins this firing rests on", required=True)
    # Red flags and severe pain
    kind = _text("session or checkin: the kind of the triggering report")
    bladder_bowel_change = ma.fields.Boolean()
    saddle_numbness = ma.fields.Boolean()
    field = _text("Which pain was severe: pain_before, pain_after or pain")
    pain = _int("The pain reported (0-10)")
    # Nerve symptoms
    numbness = _int("The numbness grade reported (0-3)")
    weakness = _int("The leg weakness grade reported (0-3)")
    symptom = _text("numbness or weakness")
    grade = _int("The grade reported (0-3)")
    usual_grade = _int("The patient's usual grade (their own baseline)")
    usual_basis = _text(
        "What the usual grade rests on: earlier reports; a new patient's few reports (a mild "
        "grade counts as usual); or, for a rise under way since them, the first report"
    )
    rise = _number("How far above the usual level")
    previous_grades = _ints("The grades of the reports just before")
    pattern = _text(
        "severe, rise above the usual grade, or rising since the first reports (a new patient)"
    )
    sustained = ma.fields.Boolean(metadata={"description": "Confirmed by later reports"})
    confirming_reports = _int("Reports that confirmed the rise")
    symptoms_raised = _texts("The symptoms one grade above usual")
    side = _text("The side reported")
    earlier_sides = _texts("The sides of earlier reports")
    # Pain after a session
    pain_before = _int("Pain before the session (0-10)")
    pain_after = _int("Pain after the session (0-10)")
    change = _int("Points of change")
    percent_of_before = _number("The change as a percentage of pain_before", allow_none=True)
    technique = _text("The session's technique", allow_none=True)
    pressure = _text("The session's pressure", allow_none=True)
    worsened_count = _int("Sessions that worsened pain in the window")
    window = _int("Sessions considered")
    sessions_considered = _ids("The sessions considered")
    changes = _ints("The change of each session considered")
    mean_change = _number("Mean change over the sessions considered")
    usual_change = _number("The patient's usual change after a session", allow_none=True)
    usual_sessions = _int("Sessions the usual change rests on")
    hours_after = _int("Hours between the session and the report")
    confirmed_by = _ids("The report that confirmed the rise")
    stands_alone_at = _number("The pain at which one report needs no confirmation")
    # The patient's own baseline
    baseline = _number("The patient's usual pain (robust level of recent reports)")
    spread = _number("Their day-to-day spread")
    baseline_reports = _int("Reports the baseline rests on")
    threshold = _number("The pain a report had to reach")
    # Trend
    count = _int("Reports in the trend window")
    values = _ints("Baseline pains in felt order")
    method = _text("Which test fired: shift or slope")
    recent_count = _int("Recent reports compared")
    recent_values = _ints("Their pains")
    recent_level = _number("Their level")
    needed = _number("The rise needed")
    margin = _number("How far beyond what was needed")
    slope_per_report = _number("Fitted rise per report")
    z_score = _number("The rise in standard errors")
    confirmed_by_previous = _int("Earlier reports over which the trend also held")
    # Deep pressure in a flare
    acute_flare = ma.fields.Boolean()
    areas = _texts("Areas treated")
    protected_areas_treated = _texts("Areas treated that a flare protects")
    # Medical clearance
    session_date = ma.fields.String(
        metadata={"format": "date", "description": "The session's date"}
    )
    medically_cleared_at = _text("Date of the consultation on file", allow_none=True)

    def get_attribute(self, obj: dict, attr: str, default):
        # Items are plain dicts: an absent "values" must not read as dict.values.
        return obj.get(attr, default)

    def _serialize(self, obj, *, many: bool = False):
        """As marshmallow's, but only the fields the item has are visited: an item holds a
        handful of the fields above, and visiting each of them for the up to 20 items of
        every alert in a response cost more than the rest of the response."""
        if many and obj is not None:
            return [self._serialize(item) for item in obj]
        return {
            name: field.serialize(name, obj, accessor=self.get_attribute)
            for name, field in self.dump_fields.items()
            if name in obj
        }


class EvidenceOut(OutSchema):
    report_ids = _ids("Every report the items below rest on", required=True)
    items = ma.fields.List(
        ma.fields.Nested(EvidenceItemOut),
        required=True,
        metadata={"description": "The latest firings, oldest first"},
    )


class AlertOut(OutSchema):
    id = ma.fields.UUID(required=True)
    patient_id = ma.fields.UUID(required=True)
    rule = ma.fields.String(required=True, validate=one_of(RULE_CODES))
    severity = ma.fields.String(required=True, validate=one_of(SEVERITIES))
    status = ma.fields.String(required=True, validate=one_of(ALERT_STATUSES))
    title = ma.fields.String(required=True)
    message = ma.fields.String(required=True, metadata={"description": "For the patient"})
    clinician_message = ma.fields.String(required=True)
    recommendation = ma.fields.String(required=True)
    evidence = ma.fields.Nested(EvidenceOut, required=True)
    occurrences = ma.fields.Integer(required=True)
    first_seen_at = AwareDateTime(required=True)
    last_seen_at = AwareDateTime(required=True)
    ruleset_version = ma.fields.String(required=True)
    acknowledged_by = ma.fields.UUID(required=True, allow_none=True)
    acknowledged_at = AwareDateTime(required=True, allow_none=True)
    acknowledgement_outcome = ma.fields.String(
        required=True,
        allow_none=True,
        validate=one_of(OUTCOMES),
        metadata={"enum_name": "AcknowledgementOutcome"},
    )
    acknowledgement_reason = ma.fields.String(required=True, allow_none=True)
    resolved_by = ma.fields.UUID(required=True, allow_none=True)
    resolved_at = AwareDateTime(required=True, allow_none=True)
    resolution = ma.fields.String(
        required=True,
        allow_none=True,
        validate=one_of(RESOLUTIONS),
        metadata={"enum_name": "Resolution"},
    )
    resolution_note = ma.fields.String(required=True, allow_none=True)


class AlertQuery(PageArgs):
    status = ma.fields.String(validate=one_of(ALERT_STATUSES))
    severity = ma.fields.String(validate=one_of(SEVERITIES))
    patient_id = ma.fields.UUID()
    rule = ma.fields.String(validate=one_of(RULE_CODES))


class AcknowledgeIn(InSchema):
    outcome = ma.fields.String(required=True, validate=one_of(OUTCOMES))
    reason = ma.fields.String(required=True, validate=TEXT)


class ResolveIn(InSchema):
    note = ma.fields.String(required=True, validate=TEXT)
