"""Shapes of alerts and their lifecycle actions."""

import marshmallow as ma

import analyzer
from api.pagination import PageArgs
from api.schemas.common import AwareDateTime, InSchema, OutSchema, one_of
from models.alert import ALERT_STATUSES, OUTCOMES, RESOLUTIONS, SEVERITIES

RULE_CODES = tuple(analyzer.RULES)
TEXT = ma.validate.Length(min=1, max=2000)


class EvidenceOut(OutSchema):
    report_ids = ma.fields.List(ma.fields.String(), required=True)
    items = ma.fields.List(
        ma.fields.Dict(),
        required=True,
        metadata={"description": "The latest firings: key, felt_at, report_ids and numbers"},
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
        required=True, allow_none=True, validate=one_of(OUTCOMES)
    )
    acknowledgement_reason = ma.fields.String(required=True, allow_none=True)
    resolved_by = ma.fields.UUID(required=True, allow_none=True)
    resolved_at = AwareDateTime(required=True, allow_none=True)
    resolution = ma.fields.String(required=True, allow_none=True, validate=one_of(RESOLUTIONS))
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
