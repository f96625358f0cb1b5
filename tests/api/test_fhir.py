"""FHIR R4 export: a valid Bundle of Patient, pain Observations and DetectedIssues."""

import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from sqlalchemy import select

from analyzer.texts import RULE_TEXTS
from models import AuditEvent
from tests.conftest import checkin_body, same_problem, session_body

RESOURCE_TYPES = {"Patient": Patient, "Observation": Observation, "DetectedIssue": DetectedIssue}
SEVERITY = {"urgent": "high", "warning": "moderate", "caution": "low", "info": "low"}
LOINC = {
    "system": "http://loinc.org",
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}


def _post(client, make, path, user, body) -> dict:
    resp = client.post(path, json=body, headers=make.headers(user))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _bundle(client, make, patient, caller=None) -> dict:
    resp = client.get(f"/v1/patients/{patient.id}/fhir", headers=make.headers(caller or patient))
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "application/fhir+json"
    return resp.get_json()


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _context(observation: dict) -> str:
    (coding,) = observation["category"][1]["coding"]
    return coding["code"]


@pytest.fixture
def history(client, make):
    """A patient not yet medically cleared, with every alert severity and a deleted session."""
    patient = make.user("patient", medically_cleared_at=None)
    red_flag = _post(
        client,
        make,
        "/v1/sessions",
        patient,
        session_body(started_at="2026-11-01T09:00:00Z", symptoms={"bladder_bowel_change": True}),
    )
    worse = [
        _post(
            client,
            make,
            "/v1/sessions",
            patient,
            session_body(started_at=f"2026-11-{day}T09:00:00Z", pain_before=3, pain_after=7),
        )
        for day in ("03", "05")
    ]
    open_session = _post(
        client,
        make,
        "/v1/sessions",
        patient,
        session_body(started_at="2026-11-07T09:00:00Z", pain_after=None, duration_minutes=30),
    )
    checkins = [
        _post(client, make, "/v1/checkins", patient, checkin_body(recorded_at=t, pain=p))
        for t, p in (("2026-11-02T08:00:00Z", 9), ("2026-11-06T08:00:00Z", 5))
    ]
    deleted = _post(
        client, make, "/v1/sessions", patient, session_body(started_at="2026-11-08T09:00:00Z")
    )
    resp = client.delete(f"/v1/sessions/{deleted['id']}", headers=make.headers(patient))
    assert resp.status_code == 204
    return {
        "patient": patient,
        "sessions": [red_flag, *worse, open_session],
        "checkins": checkins,
        "deleted": deleted,
    }


def test_bundle_is_valid_fhir_r4_collection(client, make, history):
    bundle = _bundle(client, make, history["patient"])
    Bundle.model_validate(bundle)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        RESOURCE_TYPES[resource["resourceType"]].model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(urls) == len(set(urls))


def test_patient_resource_has_name_and_no_email(client, make, history):
    patient = history["patient"]
    bundle = _bundle(client, make, patient)
    (resource,) = _resources(bundle, "Patient")
    assert resource == {
        "resourceType": "Patient",
        "id": str(patient.id),
        "name": [{"text": patient.display_name}],
    }
    assert patient.email not in str(bundle)


def test_one_observation_per_pain_score(client, make, history):
    bundle = _bundle(client, make, history["patient"])
    observations = _resources(bundle, "Observation")
    sessions, checkins = history["sessions"], history["checkins"]
    expected = []
    for session in sessions:
        expected.append(("pre-session", session["started_at"], session["pain_before"]))
        if session["pain_after"] is not None:
            expected.append(("post-session", None, session["pain_after"]))
    expected += [("check-in", c["recorded_at"], c["pain"]) for c in checkins]
    # The deleted session's two scores stay, withdrawn: entered-in-error, without a value.
    withdrawn = [o for o in observations if o["status"] == "entered-in-error"]
    assert sorted(_context(o) for o in withdrawn) == ["post-session", "pre-session"]
    assert all("valueInteger" not in o for o in withdrawn)
    live = [o for o in observations if o not in withdrawn]
    assert len(live) == len(sessions) * 2 - 1 + len(checkins) == len(expected)
    got = sorted((_context(o), o["valueInteger"]) for o in live)
    assert got == sorted((context, pain) for context, _, pain in expected)
    subject = f"urn:uuid:{history['patient'].id}"
    for observation in live:
        assert observation["status"] == "final"  # none edited
    for observation in observations:
        assert observation["code"]["coding"] == [LOINC]
        survey = observation["category"][0]["coding"][0]
        assert survey["code"] == "survey"
        assert survey["system"] == "http://terminology.hl7.org/CodeSystem/observation-category"
        assert observation["subject"] == {"reference": subject}


def test_observation_times_are_when_the_pain_was_felt(client, make, history):
    observations = _resources(_bundle(client, make, history["patient"]), "Observation")
    times = {(_context(o), o["effectiveDateTime"]) for o in observations}
    red_flag = history["sessions"][0]
    assert ("pre-session", red_flag["started_at"]) in times
    assert ("post-session", "2026-11-01T09:50:00Z") in times  # start + 50 minutes
    assert ("check-in", "2026-11-02T08:00:00Z") in times
    # The deleted session's, withdrawn, at the time it was felt.
    deleted = {
        (_context(o), o["effectiveDateTime"]) for o in observations if "valueInteger" not in o
    }
    assert deleted == {
        ("pre-session", "2026-11-08T09:00:00Z"),
        ("post-session", "2026-11-08T09:50:00Z"),
    }


def test_detected_issues_map_every_alert_with_its_severity(client, make, history):
    patient = history["patient"]
    alerts = client.get("/v1/alerts?limit=200", headers=make.headers(patient)).get_json()["items"]
    assert {a["severity"] for a in alerts} == set(SEVERITY)
    issues = {i["id"]: i for i in _resources(_bundle(client, make, patient), "DetectedIssue")}
    assert set(issues) == {a["id"] for a in alerts}
    for alert in alerts:
        issue = issues[alert["id"]]
        assert issue["severity"] == SEVERITY[alert["severity"]]
        assert issue["status"] == "preliminary"  # open: not yet reviewed
        assert issue["code"]["text"] == alert["title"]
        (coding,) = issue["code"]["coding"]
        assert (coding["code"], coding["display"]) == (
            alert["rule"],
            RULE_TEXTS[alert["rule"]].title,
        )
        assert issue["detail"] == alert["clinician_message"]
        assert issue["identifiedDateTime"] == alert["first_seen_at"]
        assert issue["patient"] == {"reference": f"urn:uuid:{patient.id}"}


def test_evidence_points_at_observations_in_the_bundle(client, make, history):
    bundle = _bundle(client, make, history["patient"])
    observations = {
        e["fullUrl"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    issues = {i["code"]["coding"][0]["code"]: i for i in _resources(bundle, "DetectedIssue")}
    for issue in issues.values():
        for evidence in issue.get("evidence", []):
            for detail in evidence["detail"]:
                assert detail["reference"] in observations
    red_flag = issues["red_flag_bladder_bowel"]
    (evidence,) = red_flag["evidence"]
    pointed = [observations[d["reference"]] for d in evidence["detail"]]
    assert sorted(_context(o) for o in pointed) == ["post-session", "pre-session"]
    assert {o["effectiveDateTime"][:10] for o in pointed} == {"2026-11-01"}
    severe = issues["severe_pain"]
    assert [
        observations[d["reference"]]["valueInteger"] for d in severe["evidence"][0]["detail"]
    ] == [9]


def test_evidence_to_a_deleted_report_is_left_out(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    written = _post(client, make, "/v1/checkins", patient, checkin_body(pain=9))
    client.delete(f"/v1/checkins/{written['id']}", headers=headers)
    bundle = _bundle(client, make, patient)
    Bundle.model_validate(bundle)
    (issue,) = _resources(bundle, "DetectedIssue")
    assert issue["status"] == "entered-in-error"  # resolved because its report was removed
    assert "evidence" not in issue
    (withdrawn,) = _resources(bundle, "Observation")
    assert withdrawn["status"] == "entered-in-error" and "valueInteger" not in withdrawn


def test_a_receiver_merging_by_id_learns_of_each_edit_and_deletion(client, make):
    """The same Observation id through a report's life: final, amended after an edit (with
    the new value and a later lastUpdated), entered-in-error once deleted."""
    patient = make.user("patient")
    headers = make.headers(patient)
    written = _post(client, make, "/v1/checkins", patient, checkin_body(pain=4))

    def observation() -> dict:
        bundle = _bundle(client, make, patient)
        Bundle.model_validate(bundle)
        (found,) = _resources(bundle, "Observation")
        Observation.model_validate(found)
        return found

    first = observation()
    assert (first["status"], first["valueInteger"]) == ("final", 4)
    edited = client.patch(f"/v1/checkins/{written['id']}", json={"pain": 6}, headers=headers)
    assert edited.status_code == 200
    amended = observation()
    assert (amended["id"], amended["status"], amended["valueInteger"]) == (
        first["id"],
        "amended",
        6,
    )
    assert amended["meta"]["lastUpdated"] >= first["meta"]["lastUpdated"]
    assert client.delete(f"/v1/checkins/{written['id']}", headers=headers).status_code == 204
    gone = observation()
    assert (gone["id"], gone["status"]) == (first["id"], "entered-in-error")
    assert "valueInteger" not in gone and gone["effectiveDateTime"] == first["effectiveDateTime"]


def test_acknowledged_and_resolved_alerts_are_final_with_mitigations(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    written = _post(client, make, "/v1/checkins", patient, checkin_body(pain=9))
    alert_id = written["alerts"][0]["id"]
    t_headers = make.headers(therapist)
    client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "overridden", "reason": "Known flare"},
        headers=t_headers,
    )
    (issue,) = _resources(_bundle(client, make, patient, therapist), "DetectedIssue")
    assert issue["status"] == "final"
    assert [m["action"]["text"] for m in issue["mitigation"]] == [
        "Acknowledged by a clinician (overridden)"
    ]
    client.post(f"/v1/alerts/{alert_id}/resolve", json={"note": "ok"}, headers=t_headers)
    bundle = _bundle(client, make, patient, therapist)
    Bundle.model_validate(bundle)
    (issue,) = _resources(bundle, "DetectedIssue")
    assert issue["status"] == "final" and len(issue["mitigation"]) == 2


def test_observation_ids_are_stable_across_exports(client, make, history):
    first = _bundle(client, make, history["patient"])
    second = _bundle(client, make, history["patient"])
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert first["id"] != second["id"]


@pytest.mark.parametrize("caller", ["owner", "linked", "admin"])
def test_parties_read_the_bundle(client, make, caller):
    patient = make.user("patient")
    callers = {"owner": patient, "linked": make.user("therapist"), "admin": make.user("admin")}
    make.link(patient, callers["linked"])
    _post(client, make, "/v1/checkins", patient, checkin_body())
    bundle = _bundle(client, make, patient, callers[caller])
    assert len(_resources(bundle, "Observation")) == 1


@pytest.mark.parametrize("caller", ["unlinked", "former", "other_patient", "therapist_self"])
def test_others_get_the_same_404_as_an_unknown_id(client, make, caller):
    patient = make.user("patient")
    callers = {
        "unlinked": make.user("therapist"),
        "former": make.user("therapist"),
        "other_patient": make.user("patient"),
    }
    make.link(patient, callers["former"], status="ended")
    callers["therapist_self"] = callers["unlinked"]
    headers = make.headers(callers[caller])
    target = callers[caller].id if caller == "therapist_self" else patient.id
    resp = client.get(f"/v1/patients/{target}/fhir", headers=headers)
    unknown = client.get(f"/v1/patients/{uuid.uuid4()}/fhir", headers=headers)
    assert resp.status_code == 404 == unknown.status_code
    assert resp.mimetype == "application/problem+json"
    assert same_problem(resp) == same_problem(unknown)


def test_anonymous_gets_401(client, make):
    patient = make.user("patient")
    assert client.get(f"/v1/patients/{patient.id}/fhir").status_code == 401


def test_therapist_export_is_audited_patient_own_is_not(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    _post(client, make, "/v1/checkins", patient, checkin_body())
    _bundle(client, make, patient)
    bundle = _bundle(client, make, patient, therapist)
    db.expire_all()
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "export.fhir")))
    assert [(e.actor_id, e.patient_id, e.resource_type, e.row_count) for e in events] == [
        (therapist.id, patient.id, "fhir_bundle", len(bundle["entry"]))
    ]
