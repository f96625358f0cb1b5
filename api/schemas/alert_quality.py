"""Shapes of the alert-quality report: its period, and its rows per rule and severity."""

from datetime import timedelta

import marshmallow as ma

from api.schemas.alerts import RULE_CODES
from api.schemas.common import AwareDateTime, OutSchema, one_of
from models import utcnow
from models.alert import SEVERITIES

DEFAULT_PERIOD = timedelta(days=90)


class AlertQualityQuery(ma.Schema):
    from_ = AwareDateTime(
        data_key="from",
        metadata={"description": "Alerts first seen at or after; default 90 days before `to`"},
    )
    to = AwareDateTime(metadata={"description": "Alerts first seen before; default now"})

    @ma.post_load
    def _period(self, data, **kwargs):
        # The defaults are filled before the order is checked: a lone future `from` is refused.
        if "to" not in data:
            data["to"] = utcnow()
        if "from_" not in data:
            data["from_"] = data["to"] - DEFAULT_PERIOD
        if data["from_"] >= data["to"]:
            raise ma.ValidationError("Must be before 'to'.", "from")
        return data


class AlertQualityTotalsOut(OutSchema):
    raised = ma.fields.Integer(
        required=True, metadata={"description": "Alerts first seen in the period"}
    )
    acknowledged = ma.fields.Integer(
        required=True,
        metadata={
            "description": "Acknowledgements of those alerts (so far), at the severity each was "
            "given: an alert acknowledged, reopened by an escalation and acknowledged again "
            "counts once at each severity"
        },
    )
    accepted = ma.fields.Integer(required=True)
    overridden = ma.fields.Integer(required=True)
    overridden_then_escalated = ma.fields.Integer(
        required=True,
        metadata={
            "description": "Of the overrides, those whose alert later escalated and was "
            "reopened: the ones to review"
        },
    )
    override_rate = ma.fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "overridden / (accepted + overridden); null when neither"},
    )
    median_seconds_to_acknowledge = ma.fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "From the alert's first sighting (or its reopening) to each "
            "acknowledgement; null when none acknowledged"
        },
    )
    data_corrected = ma.fields.Integer(
        required=True,
        metadata={"description": "Resolved because corrected reports withdrew their evidence"},
    )
    data_corrected_share = ma.fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "data_corrected / raised; null when none raised"},
    )


class AlertQualityRowOut(AlertQualityTotalsOut):
    rule = ma.fields.String(required=True, validate=one_of(RULE_CODES))
    severity = ma.fields.String(required=True, validate=one_of(SEVERITIES))


class AlertQualityOut(OutSchema):
    from_ = AwareDateTime(
        data_key="from",
        attribute="start",
        required=True,
        metadata={"description": "Start of the period (included)"},
    )
    to = AwareDateTime(
        attribute="end", required=True, metadata={"description": "End of the period (excluded)"}
    )
    rows = ma.fields.List(
        ma.fields.Nested(AlertQualityRowOut),
        required=True,
        metadata={
            "description": "One per rule and severity raised or acknowledged (alerts count at "
            "the severity they have now, acknowledgements at the one they were given); most "
            "severe first, then rule"
        },
    )
    totals = ma.fields.Nested(AlertQualityTotalsOut, required=True)
