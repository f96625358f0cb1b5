"""Patient summaries: every write keeps them equal to what the reports give, and lists of
patients read them (recomputing a missing or stale one)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

import analyzer
from api.services import analysis
from models import CheckIn, MassageSession, PatientSummary
from tests.api.test_patient_reports import count_statements
from tests.conftest import checkin_body, session_body

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def _at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def _stored(db, patient) -> PatientSummary | None:
    db.expire_all()
    return db.get(PatientSummary, patient.id)


def _from_all_reports(db, patient) -> analyzer.Summary:
    """The summary computed here from every live report of the patient."""
    reports = [
        analysis.to_report(row)
        for model in (MassageSession, CheckIn)
        for row in db.scalars(
            select(model).where(model.patient_id == patient.id, model.deleted_at.is_(None))
        )
    ]
    return analyzer.summarize(reports)


def _as_summary(row: PatientSummary) -> analyzer.Summary:
    return analyzer.Summary(
        latest_pain_before=row.latest_pain_before,
        latest_pain_after=row.latest_pain_after,
        last_session_at=row.last_session_at,
        trend=row.trend,
    )


def test_every_kind_of_write_keeps_the_summary_equal_to_the_reports(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    assert _stored(db, patient) is None
    ids = []
    rising = (3, 3, 4, 3, 3, 3, 4, 3, 6, 6, 7, 7)
    for day, pain in enumerate(rising):
        body = session_body(started_at=_at(3 * day), pain_before=pain, pain_after=pain - 1)
        resp = client.post("/v1/sessions", json=body, headers=headers)
        ids.append(resp.get_json()["id"])
        assert _as_summary(_stored(db, patient)) == _from_all_reports(db, patient)
    row = _stored(db, patient)
    assert (row.latest_pain_before, row.latest_pain_after, row.trend) == (7, 6, "worsening")
    assert row.last_session_at == T0 + timedelta(days=33)
    assert row.basis == analyzer.summary_basis(analyzer.DEFAULT_CONFIG)

    client.post("/v1/checkins", json=checkin_body(recorded_at=_at(35), pain=2), headers=headers)
    # An edit of the latest session, a deletion, and a session synced late into the past.
    client.patch(f"/v1/sessions/{ids[-1]}", json={"pain_after": 2}, headers=headers)
    assert _stored(db, patient).latest_pain_after == 2
    client.delete(f"/v1/sessions/{ids[-1]}", headers=headers)
    row = _stored(db, patient)
    assert (row.latest_pain_before, row.last_session_at) == (7, T0 + timedelta(days=30))
    late = session_body(started_at=_at(1), pain_before=9, pain_after=9)
    assert client.post("/v1/sessions", json=late, headers=headers).status_code == 201
    assert _as_summary(_stored(db, patient)) == _from_all_reports(db, patient)


def test_a_late_sync_before_a_long_history_still_keeps_the_latest_values(client, make, db):
    # More check-ins after the late session than a write re-judges: the window is cut
    # short, and the summary is read from the patient's latest reports instead.
    patient = make.user("patient")
    headers = make.headers(patient)
    body = session_body(started_at=_at(40), pain_before=6, pain_after=5)
    assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201
    for i in range(analysis.AFTER_LIMIT + 2):
        checkin = checkin_body(recorded_at=_at(1 + i * 0.5), pain=4)
        assert client.post("/v1/checkins", json=checkin, headers=headers).status_code == 201
    late = session_body(started_at=_at(0), pain_before=2, pain_after=1)
    assert client.post("/v1/sessions", json=late, headers=headers).status_code == 201
    row = _stored(db, patient)
    assert (row.latest_pain_before, row.latest_pain_after) == (6, 5)
    assert row.last_session_at == T0 + timedelta(days=40)
    assert _as_summary(row) == _from_all_reports(db, patient)


@pytest.mark.parametrize("damage", ["stale_basis", "missing"])
def test_lists_recompute_a_stale_or_missing_summary_from_the_reports(
    client, make, db, connection, damage
):
    therapist = make.user("therapist")
    kept, damaged = make.user("patient"), make.user("patient")
    kept.display_name, damaged.display_name = "Kept", "Damaged"
    for patient, before in ((kept, 3), (damaged, 6)):
        make.link(patient, therapist)
        body = session_body(started_at=_at(0), pain_before=before, pain_after=before - 1)
        client.post("/v1/sessions", json=body, headers=make.headers(patient))
    if damage == "missing":
        db.delete(db.get(PatientSummary, damaged.id))
    else:
        # Stored under an older ruleset, with values that no longer hold.
        db.execute(
            update(PatientSummary)
            .where(PatientSummary.patient_id == damaged.id)
            .values(basis="2020.01-1/000000000000", latest_pain_before=0, trend="worsening")
        )
    db.flush()
    headers = make.headers(therapist)
    with count_statements(connection) as statements:
        rows = client.get("/v1/reports/caseload", headers=headers).get_json()["items"]
    by_name = {r["display_name"]: r for r in rows}
    assert by_name["Damaged"]["latest_pain_before"] == 6
    assert by_name["Damaged"]["trend"] == "stable"
    assert by_name["Kept"]["latest_pain_before"] == 3
    # Two statements more than with every summary current (one per kind of report).
    with count_statements(connection) as current:
        db.execute(
            update(PatientSummary).values(basis=analyzer.summary_basis(analyzer.DEFAULT_CONFIG))
        )
        db.flush()
        current.clear()
        assert client.get("/v1/reports/caseload", headers=headers).status_code == 200
    if damage == "stale_basis":
        assert len(statements) == len(current) + 2


def test_the_analyze_command_stores_every_summary(app, make, db):
    patient = make.user("patient")
    db.add(
        MassageSession(
            patient_id=patient.id,
            started_at=T0,
            duration_minutes=50,
            technique="swedish",
            pressure="light",
            areas=["lower_back"],
            pain_before=5,
            pain_after=3,
        )
    )
    db.flush()
    assert _stored(db, patient) is None
    result = app.test_cli_runner().invoke(args=["analyze", "--patient", str(patient.id)])
    assert result.exit_code == 0, result.output
    row = _stored(db, patient)
    assert (row.latest_pain_before, row.latest_pain_after, row.trend) == (5, 3, "stable")
