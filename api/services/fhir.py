"""A patient's pain scores and alerts as a FHIR R4 Bundle (type collection).

- Patient: id and name (the display name); no email or other contact.
- Observation per pain score (pain_before and pain_after of each session, pain of each
  check-in): category `survey` plus a category from PAIN_CONTEXT saying pre-session,
  post-session or check-in, code LOINC 72514-3, valueInteger, meta.lastUpdated. Status
  final as first recorded, amended once the report was edited, entered-in-error (with no
  value) once it was deleted. A post-session score is effective at the session's end
  (start + duration). Ids are stable: derived from the report id and the context, so a
  re-export names the same Observations, and a receiver that merged them by id learns of
  each edit and deletion.
- DetectedIssue per alert: severity urgent -> high, warning -> moderate, caution and
  info -> low; status open -> preliminary, acknowledged or resolved by a clinician ->
  final, resolved because its reports were corrected -> entered-in-error; code carries
  the rule (displayed by the rule's title; the alert's own title is the code's text);
  detail is the clinician message; evidence has one entry per report named in
  the alert's evidence, pointing at that report's Observations (reports since deleted are
  left out); acknowledgement and resolution are mitigations.

Every reference is the `urn:uuid:` fullUrl of an entry in the same bundle.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from analyzer.texts import RULE_TEXTS
from api.services import access, audit
from api.services.exports import iso_utc
from models import Alert, CheckIn, MassageSession, User, utcnow

LOINC = "http://loinc.org"
PAIN_CODE = "72514-3"
PAIN_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PAIN_CONTEXT = "urn:sciatica-care:fhir:pain-context"
ALERT_RULE = "urn:sciatica-care:fhir:alert-rule"
CONTEXTS = {
    "pre-session": "Before a massage session",
    "post-session": "After a massage session",
    "check-in": "Check-in between sessions",
}
SEVERITY = {"urgent": "high", "warning": "moderate", "caution": "low", "info": "low"}
# Observation ids are uuid5 of the report id and the context under this namespace.
OBSERVATION_NAMESPACE = uuid.UUID("0b5e3c1e-7f7a-4f57-9d51-6d1f3c2c9a10")


def _urn(resource_id: uuid.UUID | str) -> str:
    return f"urn:uuid:{resource_id}"


def _entry(resource: dict) -> dict:
    return {"fullUrl": _urn(resource["id"]), "resource": resource}


def _patient(patient: User) -> dict:
    return {
        "resourceType": "Patient",
        "id": str(patient.id),
        "name": [{"text": patient.display_name}],
    }


def _observation_status(report: MassageSession | CheckIn) -> str:
    """final as first recorded; amended once edited; entered-in-error once deleted."""
    if report.deleted_at is not None:
        return "entered-in-error"
    return "amended" if report.version > 1 else "final"


def _observation(
    report: MassageSession | CheckIn, context: str, felt_at: datetime, pain: int, subject: str
) -> dict:
    """One pain score. A deleted report's keeps its id (a receiver that merged it by id
    learns it was withdrawn) but no longer its value."""
    status = _observation_status(report)
    observation = {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(OBSERVATION_NAMESPACE, f"{report.id}/{context}")),
        "meta": {"lastUpdated": iso_utc(report.deleted_at or report.updated_at)},
        "status": status,
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]},
            {"coding": [{"system": PAIN_CONTEXT, "code": context, "display": CONTEXTS[context]}]},
        ],
        "code": {
            "coding": [{"system": LOINC, "code": PAIN_CODE, "display": PAIN_DISPLAY}],
            "text": "Pain (0-10)",
        },
        "subject": {"reference": subject},
        "effectiveDateTime": iso_utc(felt_at),
    }
    if status != "entered-in-error":
        observation["valueInteger"] = pain
    return observation


def _session_observations(session: MassageSession, subject: str) -> list[dict]:
    observations = [
        _observation(session, "pre-session", session.started_at, session.pain_before, subject)
    ]
    if session.pain_after is not None:
        ended = session.started_at + timedelta(minutes=session.duration_minutes)
        observations.append(
            _observation(session, "post-session", ended, session.pain_after, subject)
        )
    return observations


def _status(alert: Alert) -> str:
    if alert.status == "open":
        return "preliminary"
    if alert.resolution == "data_corrected":
        return "entered-in-error"
    return "final"


def _mitigations(alert: Alert) -> list[dict]:
    mitigations = []
    if alert.acknowledged_at is not None:
        outcome = alert.acknowledgement_outcome or "accepted"
        mitigations.append(
            {
                "action": {"text": f"Acknowledged by a clinician ({outcome})"},
                "date": iso_utc(alert.acknowledged_at),
            }
        )
    if alert.resolved_at is not None:
        how = "reports corrected" if alert.resolution == "data_corrected" else "by a clinician"
        mitigations.append(
            {"action": {"text": f"Resolved ({how})"}, "date": iso_utc(alert.resolved_at)}
        )
    return mitigations


def _rule_display(alert: Alert) -> str:
    known = RULE_TEXTS.get(alert.rule)
    return known.title if known is not None else alert.title


def _detected_issue(alert: Alert, subject: str, observed: dict[str, list[str]]) -> dict:
    issue = {
        "resourceType": "DetectedIssue",
        "id": str(alert.id),
        "status": _status(alert),
        "code": {
            # One display per code (the rule's own title); this alert's title is the text.
            "coding": [{"system": ALERT_RULE, "code": alert.rule, "display": _rule_display(alert)}],
            "text": alert.title,
        },
        "severity": SEVERITY[alert.severity],
        "patient": {"reference": subject},
        "identifiedDateTime": iso_utc(alert.first_seen_at),
        "detail": alert.clinician_message,
    }
    report_ids = (alert.evidence or {}).get("report_ids", [])
    evidence = [
        {"detail": [{"reference": url} for url in observed[str(rid)]]}
        for rid in report_ids
        if str(rid) in observed
    ]
    if evidence:
        issue["evidence"] = evidence
    if mitigations := _mitigations(alert):
        issue["mitigation"] = mitigations
    return issue


def bundle_for(*, db_session: Session, user: User, patient_id: uuid.UUID) -> dict:
    """The patient's FHIR bundle, if the caller may see them (else the unknown-id 404).

    Reading someone else's is audited as an export with the number of entries.
    """
    patient = access.get_patient_or_raise(db_session=db_session, user=user, patient_id=patient_id)
    subject = _urn(patient.id)
    entries = [_entry(_patient(patient))]
    observed: dict[str, list[str]] = {}
    for session in db_session.scalars(
        select(MassageSession)
        .where(MassageSession.patient_id == patient.id)
        .order_by(MassageSession.started_at, MassageSession.id)
    ):
        for observation in _session_observations(session, subject):
            entries.append(_entry(observation))
            if session.deleted_at is None:
                observed.setdefault(str(session.id), []).append(entries[-1]["fullUrl"])
    for checkin in db_session.scalars(
        select(CheckIn)
        .where(CheckIn.patient_id == patient.id)
        .order_by(CheckIn.recorded_at, CheckIn.id)
    ):
        entry = _entry(
            _observation(checkin, "check-in", checkin.recorded_at, checkin.pain, subject)
        )
        entries.append(entry)
        if checkin.deleted_at is None:
            observed[str(checkin.id)] = [entry["fullUrl"]]
    for alert in db_session.scalars(
        select(Alert).where(Alert.patient_id == patient.id).order_by(Alert.first_seen_at, Alert.id)
    ):
        entries.append(_entry(_detected_issue(alert, subject, observed)))
    audit.record_list(
        db_session,
        user=user,
        resource_type="fhir_bundle",
        counts={patient.id: len(entries)},
        action="export.fhir",
    )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": iso_utc(utcnow()),
        "entry": entries,
    }
