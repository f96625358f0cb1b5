"""The audit trail: logins, reads of others' health data, alert and link changes."""

import pytest
from sqlalchemy import select

from models import AuditEvent
from tests.conftest import PASSWORD, checkin_body, session_body


def _events(db, **filters) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).filter_by(**filters).order_by(AuditEvent.occurred_at))
    )


def test_logins_are_audited_success_and_failure_without_secrets_a_refusal_without_actor(
    client, make, db
):
    patient = make.user("patient")
    client.post("/v1/auth/token", json={"email": patient.email, "password": PASSWORD})
    client.post("/v1/auth/token", json={"email": patient.email, "password": "wrong password"})
    client.post("/v1/auth/token", json={"email": "ghost@example.org", "password": "whatever1"})
    events = _events(db, action="auth.login")
    assert [(e.outcome, e.status) for e in events] == [
        ("success", 200),
        ("failure", 401),
        ("failure", 401),
    ]
    # A refusal names the account tried, not as its actor: whoever tried may not own it.
    assert [(e.actor_id, e.resource_id) for e in events] == [
        (patient.id, str(patient.id)),
        (None, str(patient.id)),
        (None, None),
    ]
    for event in events:
        assert event.ip == "127.0.0.1" and event.request_id
        values = " ".join(str(v) for v in vars(event).values())
        assert PASSWORD not in values and "wrong password" not in values


def test_therapist_reads_of_patient_data_are_audited_own_reads_are_not(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(patient)
    session = client.post("/v1/sessions", json=session_body(), headers=headers).get_json()
    client.post("/v1/checkins", json=checkin_body(), headers=headers)
    client.get(f"/v1/sessions/{session['id']}", headers=headers)
    client.get("/v1/sessions", headers=headers)
    assert _events(db, actor_id=patient.id) == []
    resp = client.get(
        f"/v1/sessions/{session['id']}",
        headers=make.headers(therapist, **{"X-Request-ID": "req-42"}),
    )
    assert resp.headers["X-Request-ID"] == "req-42"
    client.get("/v1/checkins", headers=make.headers(therapist))
    read, listed = _events(db, actor_id=therapist.id)
    assert (read.action, read.resource_id, read.patient_id) == (
        "session.read",
        session["id"],
        patient.id,
    )
    assert read.request_id == "req-42" and read.actor_role == "therapist"
    assert (listed.action, listed.row_count, listed.patient_id) == ("checkin.list", 1, patient.id)


def test_a_therapists_sync_and_screening_are_audited_a_patients_own_are_not(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(patient)
    red_flag = session_body(symptoms={"bladder_bowel_change": True})
    client.post("/v1/sessions", json=red_flag, headers=headers)
    client.post("/v1/checkins", json=checkin_body(), headers=headers)
    screening = {
        "symptoms": {},
        "acute_flare": False,
        "planned_pressure": "light",
        "planned_areas": ["hip"],
    }
    assert client.get("/v1/sync", headers=headers).status_code == 200
    assert client.post("/v1/screenings", json=screening, headers=headers).status_code == 200
    assert _events(db, actor_id=patient.id) == []
    synced = client.get("/v1/sync", headers=make.headers(therapist)).get_json()
    assert len(synced["changes"]) == 3  # the session, the check-in and the alert
    screened = client.post(
        "/v1/screenings",
        json={**screening, "patient_id": str(patient.id)},
        headers=make.headers(therapist),
    ).get_json()
    assert screened["verdict"] == "do_not_proceed"
    listed, read = _events(db, actor_id=therapist.id)
    assert (listed.action, listed.row_count, listed.patient_id) == ("sync.list", 3, patient.id)
    assert (read.action, read.patient_id) == ("screening.read", patient.id)


@pytest.mark.parametrize(
    ("path", "action", "rows"),
    [
        ("/v1/sessions", "session.list", (2, 1)),
        ("/v1/sync", "sync.list", (2, 1)),
        ("/v1/patients", "patient.list", (1, 1)),
        ("/v1/reports/caseload", "caseload.list", (1, 1)),
    ],
)
def test_a_read_over_several_patients_is_audited_once_per_patient_with_their_rows(
    client, make, db, path, action, rows
):
    therapist, one, two = make.user("therapist"), make.user("patient"), make.user("patient")
    make.link(one, therapist)
    make.link(two, therapist)
    for patient, day in ((one, 20), (one, 21), (two, 20)):
        body = session_body(started_at=f"2026-11-{day}T09:00:00Z")
        assert (
            client.post("/v1/sessions", json=body, headers=make.headers(patient)).status_code == 201
        )
    resp = client.get(path, headers=make.headers(therapist))
    assert resp.status_code == 200
    events = _events(db, actor_id=therapist.id)
    assert {(e.action, e.patient_id, e.row_count) for e in events} == {
        (action, one.id, rows[0]),
        (action, two.id, rows[1]),
    }
    assert {e.request_id for e in events} == {resp.headers["X-Request-ID"]}
    admin = make.headers(make.user("admin"))
    found = client.get(f"/v1/audit-events?patient_id={two.id}", headers=admin).get_json()
    assert [(e["action"], e["actor_id"]) for e in found["items"]] == [(action, str(therapist.id))]


def test_alert_lifecycle_and_care_links_are_audited(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    link = client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=make.headers(patient)
    ).get_json()
    alert = client.post(
        "/v1/checkins",
        json=checkin_body(symptoms={"saddle_numbness": True}),
        headers=make.headers(patient),
    ).get_json()["alerts"][0]
    t_headers = make.headers(therapist)
    client.post(
        f"/v1/alerts/{alert['id']}/acknowledge",
        json={"outcome": "accepted", "reason": "r"},
        headers=t_headers,
    )
    client.post(f"/v1/alerts/{alert['id']}/resolve", json={"note": "n"}, headers=t_headers)
    client.delete(f"/v1/care-links/{link['id']}", headers=t_headers)
    actions = [e.action for e in _events(db, patient_id=patient.id)]
    assert actions == ["care_link.create", "alert.acknowledge", "alert.resolve", "care_link.end"]


def test_data_corrected_resolution_is_audited(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/checkins", json=checkin_body(pain=9), headers=headers).get_json()
    client.patch(f"/v1/checkins/{created['id']}", json={"pain": 4}, headers=headers)
    [event] = _events(db, action="alert.resolve_data_corrected")
    assert event.patient_id == patient.id and event.actor_id == patient.id


def test_admin_lists_audit_events_with_filters(client, make, db):
    admin, patient = make.user("admin"), make.user("patient")
    client.post("/v1/auth/token", json={"email": patient.email, "password": PASSWORD})
    client.post("/v1/auth/token", json={"email": patient.email, "password": "nope nope nope"})
    headers = make.headers(admin)
    body = client.get(f"/v1/audit-events?actor_id={patient.id}", headers=headers).get_json()
    assert [e["outcome"] for e in body["items"]] == ["success"]  # the refusal has no actor
    only = client.get("/v1/audit-events?action=auth.login&limit=1", headers=headers).get_json()
    assert len(only["items"]) == 1 and only["next_cursor"]


def test_an_audit_period_with_to_before_from_is_refused_as_every_period_is(client, make):
    headers = make.headers(make.user("admin"))
    period = "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
    resp = client.get(f"/v1/audit-events?{period}", headers=headers)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    export = client.get(f"/v1/exports/sessions.csv?{period}", headers=headers)
    assert (
        resp.get_json()["errors"]
        == export.get_json()["errors"]
        == {"from": ["Must not be after 'to'."]}
    )
    same = "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"  # an empty period, as elsewhere
    assert client.get(f"/v1/audit-events?{same}", headers=headers).status_code == 200


@pytest.mark.parametrize("role", ["patient", "therapist"])
def test_only_admins_read_the_audit_trail(client, make, role):
    assert client.get("/v1/audit-events", headers=make.headers(make.user(role))).status_code == 403
