"""A write's analysis prepared before its transaction (api.services.analysis.prepare) is the
analysis the write would make itself, and a write whose patient changed meanwhile judges
again."""

import json
import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

import analyzer
from api.services import alerts, analysis, reports
from bench.cohort import REALISTIC, Simulator
from models import Alert, CheckIn, MassageSession


def _row(report, patient_id):
    """The session or check-in row of a simulated report."""
    symptoms = {
        "numbness": report.symptoms.numbness,
        "tingling": report.symptoms.tingling,
        "weakness": report.symptoms.weakness,
        "symptom_side": report.symptoms.side,
        "bladder_bowel_change": report.symptoms.bladder_bowel_change,
        "saddle_numbness": report.symptoms.saddle_numbness,
    }
    if report.kind == "checkin":
        return CheckIn(
            id=uuid.UUID(report.id),
            patient_id=patient_id,
            recorded_at=report.felt_at,
            pain=report.pain,
            **symptoms,
        )
    return MassageSession(
        id=uuid.UUID(report.id),
        patient_id=patient_id,
        started_at=report.felt_at,
        duration_minutes=50,
        technique=report.technique or "swedish",
        pressure=report.pressure or "moderate",
        areas=list(report.areas),
        acute_flare=report.acute_flare,
        pain_before=report.pain_before,
        pain_after=report.pain_after,
        **symptoms,
    )


GROUPS = ["stable", "drifting", "aggravated", "nerve_deficit", "red_flag"]


@pytest.mark.parametrize("group", GROUPS)
def test_a_prepared_judgement_is_the_one_the_write_makes(db, make, group):
    """Realistic patients (noise, check-ins, wobbling grades, late sync): before each report
    is written its judgement is prepared from the stored history; once it is written, the
    write's own judgement must be the same, findings and summary alike. Seeded by the
    group's place (a string's hash changes from run to run), so a failure can be re-run."""
    sim = Simulator(random.Random(20261 + GROUPS.index(group)), REALISTIC)
    simulated = getattr(sim, group)()
    patient = make.user("patient")
    cfg = analysis.config(db)
    prepared_count = 0
    for report in simulated.arrival:
        row = _row(report, patient.id)
        prepared = analysis.prepare(db_session=db, patient=patient, report=row)
        db.add(row)
        db.flush()
        judged = analysis._judge(db, patient, row.felt_at, cfg)
        if prepared is not None:
            prepared_count += 1
            assert prepared.judgement == judged, report.id
        analysis.reanalyze(db_session=db, patient=patient, focus=row.felt_at, corrected=None)
    # Only a report with nearly a full window felt after it goes unprepared.
    assert prepared_count == len(simulated.arrival)


def test_a_write_whose_patient_changed_meanwhile_judges_again(db, make):
    """Prepared for a session, then another write lands first (a session felt later that
    worsened pain): the prepared judgement knew nothing of it. Used as it was, the later
    session's alert would be withdrawn as corrected; the write must judge again instead."""
    patient = make.user("patient")
    base = analysis.utcnow() - timedelta(days=20)
    for day in range(0, 12, 3):  # a calm history
        body = {"started_at": base + timedelta(days=day), "pain_before": 4, "pain_after": 3}
        reports.create(db_session=db, user=patient, model=MassageSession, data=_body(**body))
    first = _body(started_at=base + timedelta(days=14), pain_before=4, pain_after=3)
    prepared = reports.prepare(db_session=db, user=patient, model=MassageSession, data=first)
    assert prepared is not None
    later = _body(started_at=base + timedelta(days=16), pain_before=3, pain_after=8)
    raised = reports.create(db_session=db, user=patient, model=MassageSession, data=later).alerts
    assert "post_session_worsening" in {a.rule for a in raised}
    db.commit()  # that write's request ends (and numbers its rows) before this one writes

    reports.create(db_session=db, user=patient, model=MassageSession, data=first, prepared=prepared)
    for alert in raised:
        alert = db.get(Alert, alert.id)
        assert alert.status == "open" and alert.resolution is None, alert.rule
    live = db.scalars(select(MassageSession).where(MassageSession.patient_id == patient.id))
    assert len(list(live)) == 6


def test_a_write_whose_patient_was_cleared_meanwhile_judges_again(db, make):
    """Prepared while the patient had no clearance on file (the judgement holds
    not_medically_cleared); the therapist's clearance is recorded before the write: the
    write must judge with it, and raise nothing."""
    patient = make.user("patient", medically_cleared_at=None)
    body = _body(started_at=analysis.utcnow() - timedelta(days=1), pain_before=4, pain_after=3)
    prepared = reports.prepare(db_session=db, user=patient, model=MassageSession, data=body)
    assert {f.rule for f in prepared.judgement.findings} == {"not_medically_cleared"}
    patient.profile.medically_cleared_at = (analysis.utcnow() - timedelta(days=30)).date()
    db.flush()

    written = reports.create(
        db_session=db, user=patient, model=MassageSession, data=body, prepared=prepared
    )
    assert written.alerts == []
    assert db.scalars(select(Alert).where(Alert.patient_id == patient.id)).all() == []


def test_a_write_whose_patient_alert_was_resolved_meanwhile_plans_again(db, make):
    """Prepared while the patient's not_medically_cleared alert was open (the prepared
    planning would add an occurrence to it); the therapist resolves it before the write.
    A resolved alert stays resolved: the write must open a new one instead."""
    patient = make.user("patient", medically_cleared_at=None)
    therapist = make.user("therapist")
    make.link(patient, therapist)
    opened, body, prepared = _prepared_beside_an_open_alert(db, patient)
    assert [a.id for a in prepared.stored.active.values()] == [opened.id]
    alerts.resolve(db_session=db, user=therapist, alert_id=opened.id, note="Cleared by phone.")
    db.commit()  # the therapist's request ends (and numbers its change) before the write

    written = reports.create(
        db_session=db, user=patient, model=MassageSession, data=body, prepared=prepared
    )
    (raised,) = written.alerts
    assert raised.id != opened.id and raised.rule == "not_medically_cleared"
    db.expire_all()
    stored = {a.id: a for a in db.scalars(select(Alert).where(Alert.patient_id == patient.id))}
    assert stored[opened.id].status == "resolved" and stored[opened.id].occurrences == 1
    assert stored[raised.id].status == "open" and stored[raised.id].occurrences == 1


def test_a_write_whose_patient_alert_changed_elsewhere_plans_from_the_stored_row(db, make):
    """Prepared while not_medically_cleared had 1 occurrence. Another writer then records 4
    more and acknowledges it, in its own transaction: here, a statement that passes this
    session's loaded objects by. The write plans again from the alert as stored, not from
    the copy its preparation loaded: no firing is lost."""
    patient = make.user("patient", medically_cleared_at=None)
    opened, body, prepared = _prepared_beside_an_open_alert(db, patient)
    assert prepared.stored.active["not_medically_cleared"].occurrences == 1
    db.execute(
        update(Alert)
        .where(Alert.id == opened.id)
        .values(occurrences=5, status="acknowledged", change_seq=Alert.change_seq + 1000)
        .execution_options(synchronize_session=False)
    )

    written = reports.create(
        db_session=db, user=patient, model=MassageSession, data=body, prepared=prepared
    )
    assert [a.id for a in written.alerts] == [opened.id]
    stored = db.execute(select(Alert.occurrences, Alert.status).where(Alert.id == opened.id))
    assert tuple(stored.one()) == (6, "acknowledged")


def _prepared_beside_an_open_alert(db, patient):
    """A first session opens not_medically_cleared (the patient has no clearance on file);
    a second is prepared: the alert, the second session's body and its preparation."""
    start = analysis.utcnow() - timedelta(days=3)
    first = _body(started_at=start, pain_before=4, pain_after=3)
    (opened,) = reports.create(db_session=db, user=patient, model=MassageSession, data=first).alerts
    body = _body(started_at=start + timedelta(days=1), pain_before=4, pain_after=3)
    prepared = reports.prepare(db_session=db, user=patient, model=MassageSession, data=body)
    return opened, body, prepared


def _body(**fields) -> dict:
    return {
        "duration_minutes": 50,
        "technique": "swedish",
        "pressure": "light",
        "areas": ["lower_back"],
        "acute_flare": False,
        "symptoms": {
            "numbness": 0,
            "tingling": 0,
            "weakness": 0,
            "symptom_side": None,
            "bladder_bowel_change": False,
            "saddle_numbness": False,
        },
        "notes": None,
        **fields,
    }


@pytest.mark.parametrize("group", ["stable", "drifting", "aggravated", "nerve_deficit", "red_flag"])
def test_an_alert_speaks_each_firing_as_the_analyzer_wrote_it(group):
    """An alert's texts are filled again from a firing's stored evidence item (alerts._speak):
    for every finding of realistic patients, that gives the finding's own texts."""
    sim = Simulator(random.Random(sum(map(ord, group))), REALISTIC)
    simulated = getattr(sim, group)()
    context = analyzer.PatientContext(affected_side="left", medically_cleared_at=None)
    findings = analyzer.analyze(simulated.reports, context)
    assert findings, group
    for finding in findings:
        item = json.loads(json.dumps(alerts._item(finding)))  # as the database gives it back
        alert = Alert(rule=finding.rule, severity=finding.severity, evidence={"items": [item]})
        alerts._speak(alert)
        spoken = (alert.title, alert.message, alert.clinician_message, alert.recommendation)
        written = (finding.title, finding.message, finding.clinician_message)
        assert spoken == (*written, finding.recommendation), finding.key
