"""Shapes of the CSV export filters and of the FHIR bundle (documentation only)."""

import marshmallow as ma

from api.schemas.common import AwareDateTime, Period

WHEN = "sessions by started_at, check-ins by recorded_at, alerts by first_seen_at"


class ExportQuery(Period):
    patient_id = ma.fields.UUID(metadata={"description": "Only this patient's rows"})
    from_ = AwareDateTime(data_key="from", metadata={"description": f"At or after; {WHEN}"})
    to = AwareDateTime(metadata={"description": f"Before; {WHEN}"})


CSV_BODY = {"type": "string", "description": "RFC 4180 CSV, UTF-8, CRLF line ends, header row"}

FHIR_BUNDLE = {
    "type": "object",
    "description": "A FHIR R4 Bundle of type `collection`: one Patient, one Observation "
    "(LOINC 72514-3) per pain score, one DetectedIssue per alert. "
    "See https://hl7.org/fhir/R4/bundle.html",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["collection"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string", "description": "urn:uuid:<id>"},
                    "resource": {"type": "object", "additionalProperties": True},
                },
            },
        },
    },
}
