"""Alerts in the product: raised by writes, de-duplicated, corrected away, acknowledged."""

import random
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from models import Alert, AlertTrigger, AuditEvent, CheckIn, MassageSession, OutboxEvent
from tests.conftest import checkin_body, session_body

RED_FLAG = {"bladder_bowel_change": True}
RED_FLAGS = ("bladder_bowel_change", "saddle_numbness")


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _alerts(db, patient, **filters) -> list[Alert]:
    db.expire_all()
    query = select(Alert).where(Alert.patient_id == patient.id).filter_by(**filters)
    return list(db.scalars(query))


def test_red_flag_session_raises_urgent_alert_in_the_same_response(client, make, db):
    patient = make.user("patient")
    resp = client.post(
        "/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=make.headers(patient)
    )
    assert resp.status_code == 201
    body = resp.get_json()
    [alert] = body["alerts"]
    assert alert["rule"] == "red_flag_bladder_bowel" and alert["severity"] == "urgent"
    assert alert["status"] == "open" and alert["occurrences"] == 1
    assert body["id"] in alert["evidence"]["report_ids"]
    assert "seek medical attention" in alert["recommendation"].lower()
    assert alert["ruleset_version"]
    [stored] = _alerts(db, patient)
    assert str(stored.id) == alert["id"]


def test_a_new_trigger_adds_an_occurrence_to_the_open_alert(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    first = client.post("/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=headers)
    second = client.post(
        "/v1/checkins", json=checkin_body(symptoms={"saddle_numbness": True}), headers=headers
    )
    [updated] = second.get_json()["alerts"]
    assert updated["id"] == first.get_json()["alerts"][0]["id"]
    assert updated["occurrences"] == 2
    assert set(updated["evidence"]["report_ids"]) == {
        first.get_json()["id"],
        second.get_json()["id"],
    }
    assert len(_alerts(db, patient)) == 1


def test_write_without_new_findings_changes_no_alert(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=headers)
    url = f"/v1/sessions/{created.get_json()['id']}"
    patched = client.patch(url, json={"notes": "typo fixed"}, headers=headers)
    assert patched.get_json()["alerts"] == []
    [alert] = _alerts(db, patient)
    assert alert.occurrences == 1


def test_rerunning_the_analyzer_is_idempotent(app, client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    for before, after in ((4, 7), (4, 7), (5, 9)):
        client.post(
            "/v1/sessions", json=session_body(pain_before=before, pain_after=after), headers=headers
        )
    before = {(a.rule, a.occurrences, a.status) for a in _alerts(db, patient)}
    assert {"post_session_worsening", "repeated_worsening", "severe_pain"} <= {
        r for r, _, _ in before
    }
    result = app.test_cli_runner().invoke(args=["analyze", "--patient", str(patient.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("0 raised, 0 updated, 0 resolved")
    assert {(a.rule, a.occurrences, a.status) for a in _alerts(db, patient)} == before


def test_analyze_command_rebuilds_missing_alerts_then_finds_nothing_new(app, client, make, db):
    patient = make.user("patient")
    client.post("/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=make.headers(patient))
    db.execute(delete(AlertTrigger))
    db.execute(delete(Alert))
    db.flush()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["analyze"])
    assert "raised   urgent  red_flag_bladder_bowel" in first.output
    assert first.output.strip().endswith("1 raised, 0 updated, 0 resolved")
    assert (
        runner.invoke(args=["analyze"]).output.strip().endswith("0 raised, 0 updated, 0 resolved")
    )


def test_analyze_command_refuses_an_unknown_patient(app):
    result = app.test_cli_runner().invoke(args=["analyze", "--patient", str(uuid.uuid4())])
    assert result.exit_code != 0 and "No such patient" in result.output


def test_resolved_alert_stays_resolved_and_a_later_trigger_opens_a_new_one(app, client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(patient)
    alert_id = client.post(
        "/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=headers
    ).get_json()["alerts"][0]["id"]
    resolved = client.post(
        f"/v1/alerts/{alert_id}/resolve",
        json={"note": "Seen by GP."},
        headers=make.headers(therapist),
    )
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    assert resolved.get_json()["resolution"] == "clinician"
    rerun = app.test_cli_runner().invoke(args=["analyze"])
    assert rerun.output.strip().endswith("0 raised, 0 updated, 0 resolved")
    later = client.post(
        "/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=headers
    ).get_json()["alerts"]
    assert len(later) == 1 and later[0]["id"] != alert_id and later[0]["status"] == "open"
    assert len(_alerts(db, patient, rule="red_flag_bladder_bowel")) == 2


def _worsened_session(client, make):
    """A patient's session with pain 5 -> 9: post_session_worsening and severe_pain."""
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post(
        "/v1/sessions", json=session_body(pain_before=5, pain_after=9), headers=headers
    ).get_json()
    return patient, headers, created


def test_correcting_a_typo_resolves_the_alert_as_data_corrected(client, make, db):
    patient, headers, created = _worsened_session(client, make)
    assert {a["rule"] for a in created["alerts"]} == {"post_session_worsening", "severe_pain"}
    fixed = client.patch(f"/v1/sessions/{created['id']}", json={"pain_after": 4}, headers=headers)
    rules = {a["rule"]: a for a in fixed.get_json()["alerts"]}
    assert set(rules) == {"post_session_worsening", "severe_pain"}
    for alert in rules.values():
        assert alert["status"] == "resolved" and alert["resolution"] == "data_corrected"
        assert alert["resolved_by"] is None
    assert {a.status for a in _alerts(db, patient)} == {"resolved"}


DAY0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _checkin_on(client, headers, day: float, **fields) -> dict:
    """A check-in felt `day` days after DAY0, written (201)."""
    body = checkin_body(recorded_at=_iso(DAY0 + timedelta(days=day)), **fields)
    resp = client.post("/v1/checkins", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _side_checkin(client, headers, day: float, side: str) -> dict:
    return _checkin_on(client, headers, day, symptoms={"side": side})


def _pain_checkin(client, headers, day: float, pain: int) -> dict:
    return _checkin_on(client, headers, day, pain=pain)


def test_a_report_synced_late_before_a_firing_leaves_its_urgent_alert_open(client, make, db):
    """A check-in felt before the first one lands after a bilateral alert: the day-5 report
    is no longer the first two-sided one, but nothing was corrected, so the urgent alert
    stays open, with its firing live, and no resolution is told or audited."""
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(patient)
    _side_checkin(client, headers, 0, "left")
    [raised] = _side_checkin(client, headers, 5, "both")["alerts"]
    assert (raised["rule"], raised["severity"]) == ("bilateral_symptoms", "urgent")
    assert _side_checkin(client, headers, -1, "both")["alerts"] == []
    [alert] = _alerts(db, patient)
    assert (alert.status, alert.resolution, alert.occurrences) == ("open", None, 1)
    assert [t.withdrawn_at for t in _triggers(db, patient)] == [None]
    screening = client.post(
        "/v1/screenings", json={"patient_id": str(patient.id)}, headers=make.headers(therapist)
    )
    assert screening.get_json()["verdict"] == "do_not_proceed"
    told = db.scalars(select(OutboxEvent.type).where(OutboxEvent.alert_id == alert.id))
    assert sorted(told) == ["alert.raised"]
    assert not db.scalar(select(AuditEvent).where(AuditEvent.action.like("alert.resolve%")))


def test_a_rerun_with_a_higher_threshold_leaves_open_alerts_to_a_clinician(app, client, make, db):
    """``flask analyze`` after a threshold is raised: the rule no longer finds the report,
    but the data was not corrected; the alert is not resolved as if it had been."""
    patient = make.user("patient")
    body = checkin_body(pain=8)
    assert client.post("/v1/checkins", json=body, headers=make.headers(patient)).status_code == 201
    app.config["ANALYZER_OVERRIDES"] = {"severe_pain_min": 9}
    ran = app.test_cli_runner().invoke(args=["analyze", "--patient", str(patient.id)])
    assert ran.exit_code == 0 and "0 raised, 0 updated, 0 resolved" in ran.output, ran.output
    [alert] = _alerts(db, patient)
    assert (alert.rule, alert.status, alert.resolution) == ("severe_pain", "open", None)


def test_a_correction_elsewhere_after_a_late_sync_leaves_the_urgent_alert_open(client, make, db):
    """As above, then the patient fixes a typo in the notes of the day-5 check-in itself:
    the correction took nothing away (the late report had), so the alert stays open; a
    correction of the side it reported does take it away."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _side_checkin(client, headers, 0, "left")
    fired = _side_checkin(client, headers, 5, "both")
    assert [a["severity"] for a in fired["alerts"]] == ["urgent"]
    _side_checkin(client, headers, -1, "both")
    url = f"/v1/checkins/{fired['id']}"
    edit = client.patch(url, json={"notes": "typo fixed"}, headers=headers)
    assert edit.status_code == 200 and edit.get_json()["alerts"] == []
    [alert] = _alerts(db, patient)
    assert (alert.status, alert.resolution) == ("open", None)
    assert [t.withdrawn_at for t in _triggers(db, patient)] == [None]
    # Correcting what the report behind it says (one side, not both) takes it away.
    side = client.patch(url, json={"symptoms": {"side": "left"}}, headers=headers)
    assert [(a["status"], a["resolution"]) for a in side.get_json()["alerts"]] == [
        ("resolved", "data_corrected")
    ]


def test_a_report_moved_earlier_takes_away_the_firing_it_undoes(client, make, db):
    """Left on day 0, both on day 2 (urgent bilateral), both again on day 5 (nothing new).
    The day-5 check-in was in fact felt on day -1: the day-2 report no longer follows
    one-sided ones, and the move took its firing away, so the alert is resolved as corrected
    (judged from the earlier of the old and new times)."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _side_checkin(client, headers, 0, "left")
    assert [a["rule"] for a in _side_checkin(client, headers, 2, "both")["alerts"]] == [
        "bilateral_symptoms"
    ]
    moved = _side_checkin(client, headers, 5, "both")
    earlier = {"recorded_at": _iso(DAY0 - timedelta(days=1))}
    resp = client.patch(f"/v1/checkins/{moved['id']}", json=earlier, headers=headers)
    assert [(a["status"], a["resolution"]) for a in resp.get_json()["alerts"]] == [
        ("resolved", "data_corrected")
    ]
    assert all(t.withdrawn_at is not None for t in _triggers(db, patient))


def _triggers(db, patient) -> list[AlertTrigger]:
    db.expire_all()
    query = select(AlertTrigger).where(AlertTrigger.patient_id == patient.id)
    return sorted(db.scalars(query), key=lambda t: t.key)


def test_a_firing_corrected_away_and_back_counts_again_on_its_own_trigger(client, make, db):
    patient, headers, created = _worsened_session(client, make)
    first = {a["rule"]: a["id"] for a in created["alerts"]}
    before = [(t.id, t.key) for t in _triggers(db, patient)]
    url = f"/v1/sessions/{created['id']}"
    client.patch(url, json={"pain_after": 4}, headers=headers)
    assert all(t.withdrawn_at is not None for t in _triggers(db, patient))
    back = client.patch(url, json={"pain_after": 9}, headers=headers)
    assert back.status_code == 200, back.get_json()
    # The resolved alerts stay resolved: new ones are raised, on the same triggers.
    again = {a["rule"]: a for a in back.get_json()["alerts"]}
    assert set(again) == set(first) and not {a["id"] for a in again.values()} & {*first.values()}
    assert all(a["status"] == "open" and a["occurrences"] == 1 for a in again.values())
    triggers = _triggers(db, patient)
    assert [(t.id, t.key) for t in triggers] == before
    assert {str(t.alert_id) for t in triggers} == {a["id"] for a in again.values()}
    assert all(t.withdrawn_at is None for t in triggers)


def test_triggers_are_weighed_alike_when_their_keys_are_read_in_chunks(
    client, make, db, monkeypatch
):
    from api.services import alerts

    monkeypatch.setattr(alerts, "KEY_CHUNK", 1)  # one read per key found
    patient, headers, created = _worsened_session(client, make)
    assert len(created["alerts"]) == 2 and len(_triggers(db, patient)) == 2
    url = f"/v1/sessions/{created['id']}"
    # Judged again, found again: nothing changes, nothing is withdrawn.
    same = client.patch(url, json={"notes": "felt it all day"}, headers=headers)
    assert same.status_code == 200 and same.get_json()["alerts"] == []
    assert all(t.withdrawn_at is None for t in _triggers(db, patient))
    # One firing corrected away: only its trigger is withdrawn, its alert resolved.
    fixed = client.patch(url, json={"pain_after": 7}, headers=headers)
    told = {a["rule"]: a for a in fixed.get_json()["alerts"]}
    resolved, worsening = told["severe_pain"], told["post_session_worsening"]
    assert resolved["resolution"] == "data_corrected"
    # The other firing still holds, with the corrected numbers: its alert takes them.
    assert worsening["status"] == "open" and worsening["occurrences"] == 1
    [item] = worsening["evidence"]["items"]
    assert (item["pain_after"], item["change"]) == (7, 2), item
    triggers = _triggers(db, patient)
    assert len(triggers) == 2 and sum(t.withdrawn_at is not None for t in triggers) == 1
    # Back again: the withdrawn trigger (not live, so found only by its key) counts again.
    back = client.patch(url, json={"pain_after": 9}, headers=headers)
    told = {a["rule"]: a for a in back.get_json()["alerts"]}
    raised = told["severe_pain"]
    assert raised["id"] != resolved["id"] and raised["status"] == "open"
    assert told["post_session_worsening"]["evidence"]["items"][0]["pain_after"] == 9
    assert [t.id for t in _triggers(db, patient)] == [t.id for t in triggers]
    assert all(t.withdrawn_at is None for t in _triggers(db, patient))


def test_an_alert_says_what_its_latest_firing_says_after_a_correction(client, make, db):
    """Pain 8, then 10; the 10 was a typo for 4: the alert keeps the 8 alone, and its texts
    say 8, not the 10 that is gone."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _pain_checkin(client, headers, 0, 8)
    typo = _pain_checkin(client, headers, 1, 10)
    [alert] = typo["alerts"]
    assert "10/10" in alert["clinician_message"] and "pain of 10" in alert["message"]
    fixed = client.patch(f"/v1/checkins/{typo['id']}", json={"pain": 4}, headers=headers)
    [alert] = fixed.get_json()["alerts"]
    assert alert["status"] == "open"
    assert [i["pain"] for i in alert["evidence"]["items"]] == [8]
    assert alert["message"] == "You reported pain of 8 out of 10."
    assert "Pain 8/10 reported" in alert["clinician_message"]
    [stored] = _alerts(db, patient)
    assert (stored.message, stored.clinician_message) == (
        alert["message"],
        alert["clinician_message"],
    )


def test_a_firing_synced_late_adds_evidence_but_the_latest_one_speaks(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    [alert] = _pain_checkin(client, headers, 5, 10)["alerts"]
    [late] = _pain_checkin(client, headers, 1, 8)["alerts"]  # felt earlier, synced later
    assert late["id"] == alert["id"] and late["occurrences"] == 2
    assert [i["pain"] for i in late["evidence"]["items"]] == [8, 10]
    assert (late["message"], late["clinician_message"]) == (
        alert["message"],
        alert["clinician_message"],
    )


def test_correcting_a_firing_reports_numbers_corrects_its_evidence_and_texts(client, make, db):
    """Pain 8 corrected to 10: the same firing (same report) with new numbers; the alert
    takes them and is told as updated."""
    patient = make.user("patient")
    headers = make.headers(patient)
    created = _pain_checkin(client, headers, 0, 8)
    [alert] = created["alerts"]
    fixed = client.patch(f"/v1/checkins/{created['id']}", json={"pain": 10}, headers=headers)
    [updated] = fixed.get_json()["alerts"]
    assert updated["id"] == alert["id"] and updated["occurrences"] == 1
    assert [i["pain"] for i in updated["evidence"]["items"]] == [10]
    assert updated["message"] == "You reported pain of 10 out of 10."
    assert "Pain 10/10 reported" in updated["clinician_message"]
    db.expire_all()
    told = db.scalars(
        select(OutboxEvent.type).where(OutboxEvent.alert_id == uuid.UUID(alert["id"]))
    )
    assert sorted(told) == ["alert.raised", "alert.updated"]
    # The same correction sent again changes nothing more.
    again = client.patch(f"/v1/checkins/{created['id']}", json={"pain": 10}, headers=headers)
    assert again.status_code == 200 and again.get_json()["alerts"] == []


def test_a_firing_moved_before_another_gives_the_alert_the_latest_ones_texts(client, make, db):
    """Pain 8 on day 0, 9 on day 1 (the alert says 9); the day-1 check-in was in fact felt on
    day -1, with pain 10: the latest firing is the 8 now, and no report says 9."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _pain_checkin(client, headers, 0, 8)
    typo = _pain_checkin(client, headers, 1, 9)
    assert typo["alerts"][0]["message"] == "You reported pain of 9 out of 10."
    moved = DAY0 - timedelta(days=1)
    fixed = client.patch(
        f"/v1/checkins/{typo['id']}",
        json={"recorded_at": _iso(moved), "pain": 10},
        headers=headers,
    )
    assert fixed.status_code == 200, fixed.get_json()
    [alert] = _alerts(db, patient)
    assert [i["pain"] for i in alert.evidence["items"]] == [10, 8]
    assert alert.message == "You reported pain of 8 out of 10."


def test_deleting_the_only_evidence_resolves_the_alert(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=headers)
    assert (
        client.delete(f"/v1/checkins/{created.get_json()['id']}", headers=headers).status_code
        == 204
    )
    [alert] = _alerts(db, patient)
    assert alert.status == "resolved" and alert.resolution == "data_corrected"


def test_correction_keeps_an_alert_open_while_other_evidence_remains(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    first = client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=headers)
    second = client.post(
        "/v1/checkins",
        json=checkin_body(recorded_at="2026-11-22T08:00:00Z", symptoms=RED_FLAG),
        headers=headers,
    )
    client.delete(f"/v1/checkins/{first.get_json()['id']}", headers=headers)
    [alert] = _alerts(db, patient)
    assert alert.status == "open"
    assert alert.evidence["report_ids"] == [second.get_json()["id"]]


def test_late_synced_session_is_placed_where_it_was_felt(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    felt = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
    # Two check-ins two and two and a half days after arrive first (the second confirms
    # the first); the session behind them syncs later.
    checkins = [
        client.post(
            "/v1/checkins",
            json=checkin_body(recorded_at=_iso(felt + timedelta(hours=hours)), pain=7),
            headers=headers,
        )
        for hours in (48, 60)
    ]
    assert [c.get_json()["alerts"] for c in checkins] == [[], []]
    session = client.post(
        "/v1/sessions",
        json=session_body(started_at=_iso(felt), pain_before=3, pain_after=3),
        headers=headers,
    )
    [alert] = session.get_json()["alerts"]
    assert alert["rule"] == "persistent_worsening"
    assert {session.get_json()["id"], *(c.get_json()["id"] for c in checkins)} == set(
        alert["evidence"]["report_ids"]
    )


def test_soreness_check_in_within_36_hours_raises_nothing(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    felt = datetime(2026, 11, 10, 18, 0, tzinfo=UTC)
    client.post(
        "/v1/sessions",
        json=session_body(started_at=_iso(felt), pain_before=4, pain_after=4),
        headers=headers,
    )
    resp = client.post(
        "/v1/checkins",
        json=checkin_body(recorded_at=_iso(felt + timedelta(hours=20)), pain=7),
        headers=headers,
    )
    assert resp.get_json()["alerts"] == []


def test_sessions_without_medical_clearance_raise_info(client, make):
    patient = make.user("patient", medically_cleared_at=None)
    resp = client.post("/v1/sessions", json=session_body(), headers=make.headers(patient))
    assert [(a["rule"], a["severity"]) for a in resp.get_json()["alerts"]] == [
        ("not_medically_cleared", "info")
    ]


def test_analysis_runs_in_the_write_transaction(app, client, make, db):
    patient = make.user("patient")
    app.config["ANALYZER_OVERRIDES"] = {"no_such_threshold": 1}
    resp = client.post("/v1/sessions", json=session_body(), headers=make.headers(patient))
    assert resp.status_code == 500
    assert db.scalar(select(func.count()).select_from(MassageSession)) == 0


def test_config_override_changes_a_threshold(app, client, make):
    patient = make.user("patient")
    app.config["ANALYZER_OVERRIDES"] = {"severe_pain_min": 7}
    resp = client.post("/v1/checkins", json=checkin_body(pain=7), headers=make.headers(patient))
    assert [a["rule"] for a in resp.get_json()["alerts"]] == ["severe_pain"]


# ---- lifecycle ---------------------------------------------------------------------------


@pytest.fixture
def linked(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    written = client.post(
        "/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=make.headers(patient)
    ).get_json()
    return patient, therapist, written["alerts"][0]["id"]


def test_acknowledge_records_outcome_and_reason(client, make, db, linked):
    patient, therapist, alert_id = linked
    resp = client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "overridden", "reason": "Known catheter; not new."},
        headers=make.headers(therapist),
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "acknowledged" and body["acknowledgement_outcome"] == "overridden"
    assert body["acknowledged_by"] == str(therapist.id) and body["acknowledged_at"]
    db.expire_all()
    stored = db.get(Alert, uuid.UUID(alert_id))
    assert stored.acknowledgement_reason == "Known catheter; not new."
    again = client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "accepted", "reason": "x"},
        headers=make.headers(therapist),
    )
    assert again.status_code == 409


def test_an_alert_carries_an_etag_that_follows_its_changes(client, make, db, linked):
    """GET gives a strong ETag and 304 while it holds; a new firing changes it; an outcome
    sent with the ETag read before that firing gets 412 and changes nothing (the therapist
    judged an alert that has since changed); with the current one it lands."""
    patient, therapist, alert_id = linked
    clinician, url = make.headers(therapist), f"/v1/alerts/{alert_id}"
    first = client.get(url, headers=clinician)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{12}-\d+"', tag)
    unchanged = client.get(url, headers=clinician | {"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == tag
    assert not unchanged.data
    weak = client.get(url, headers=clinician | {"If-None-Match": f"W/{tag}"})
    assert weak.status_code == 304
    again = checkin_body(symptoms={"saddle_numbness": True})
    assert client.post("/v1/checkins", json=again, headers=make.headers(patient)).status_code == 201
    changed = client.get(url, headers=clinician | {"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.get_json()["occurrences"] == 2
    outcome = {"outcome": "overridden", "reason": "Known catheter; not new."}
    stale = client.post(f"{url}/acknowledge", json=outcome, headers=clinician | {"If-Match": tag})
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json" and "changed" in stale.get_json()["detail"]
    db.expire_all()
    assert db.get(Alert, uuid.UUID(alert_id)).status == "open"
    current = changed.headers["ETag"]
    acknowledged = client.post(
        f"{url}/acknowledge", json=outcome, headers=clinician | {"If-Match": current}
    )
    assert acknowledged.status_code == 200 and acknowledged.get_json()["status"] == "acknowledged"
    after = acknowledged.headers["ETag"]
    assert (
        after not in (tag, current) and client.get(url, headers=clinician).headers["ETag"] == after
    )
    resolved = client.post(
        f"{url}/resolve",
        json={"note": "Seen in clinic."},
        headers=clinician | {"If-Match": current},
    )
    assert resolved.status_code == 412
    resolved = client.post(
        f"{url}/resolve", json={"note": "Seen in clinic."}, headers=clinician | {"If-Match": after}
    )
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"


def test_a_trigger_while_acknowledged_updates_the_same_alert(client, make, db, linked):
    patient, therapist, alert_id = linked
    client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "accepted", "reason": "Referred."},
        headers=make.headers(therapist),
    )
    resp = client.post(
        "/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=make.headers(patient)
    )
    [alert] = resp.get_json()["alerts"]
    assert alert["id"] == alert_id and alert["status"] == "acknowledged"
    assert alert["occurrences"] == 2


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("acknowledge", {"outcome": "ignored", "reason": "x"}),
        ("acknowledge", {"outcome": "accepted"}),
        ("acknowledge", {"outcome": "accepted", "reason": ""}),
        ("acknowledge", {"outcome": "accepted", "reason": "ok", "status": "resolved"}),
        ("resolve", {}),
        ("resolve", {"note": "x" * 2001}),
    ],
)
def test_lifecycle_rejects_bad_bodies_and_changes_nothing(client, make, db, linked, action, body):
    _, therapist, alert_id = linked
    resp = client.post(
        f"/v1/alerts/{alert_id}/{action}", json=body, headers=make.headers(therapist)
    )
    assert resp.status_code == 422
    db.expire_all()
    assert db.get(Alert, uuid.UUID(alert_id)).status == "open"


def test_resolving_twice_is_409(client, make, linked):
    _, therapist, alert_id = linked
    headers = make.headers(therapist)
    assert (
        client.post(
            f"/v1/alerts/{alert_id}/resolve", json={"note": "ok"}, headers=headers
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/v1/alerts/{alert_id}/resolve", json={"note": "ok"}, headers=headers
        ).status_code
        == 409
    )
    ack = client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "accepted", "reason": "late"},
        headers=headers,
    )
    assert ack.status_code == 409


def test_list_orders_most_severe_then_newest_and_filters(client, make):
    patient, therapist, other = make.user("patient"), make.user("therapist"), make.user("patient")
    make.link(patient, therapist)
    headers = make.headers(patient)
    client.post("/v1/checkins", json=checkin_body(pain=9), headers=headers)  # severe_pain, caution
    client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=headers)  # urgent
    client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=make.headers(other))
    items = client.get("/v1/alerts", headers=make.headers(therapist)).get_json()["items"]
    assert [a["severity"] for a in items] == ["urgent", "caution"]
    assert {a["patient_id"] for a in items} == {str(patient.id)}
    urgent = client.get("/v1/alerts?severity=urgent", headers=make.headers(therapist)).get_json()
    assert [a["rule"] for a in urgent["items"]] == ["red_flag_bladder_bowel"]
    by_rule = client.get("/v1/alerts?rule=severe_pain&status=open", headers=headers).get_json()
    assert [a["rule"] for a in by_rule["items"]] == ["severe_pain"]
    page = client.get("/v1/alerts?limit=1", headers=headers).get_json()
    assert page["items"][0]["severity"] == "urgent" and page["next_cursor"]
    rest = client.get(
        f"/v1/alerts?limit=1&cursor={page['next_cursor']}", headers=headers
    ).get_json()
    assert rest["items"][0]["severity"] == "caution" and rest["next_cursor"] is None
    assert client.get("/v1/alerts?rule=made_up", headers=headers).status_code == 422


# ---- screening -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "verdict", "rule"),
    [
        ({}, "proceed", None),
        ({"symptoms": {"saddle_numbness": True}}, "do_not_proceed", "red_flag_bladder_bowel"),
        ({"acute_flare": True, "planned_pressure": "deep"}, "caution", "deep_pressure_in_flare"),
        ({"acute_flare": True, "planned_pressure": "firm"}, "caution", "deep_pressure_in_flare"),
        ({"acute_flare": True, "planned_pressure": "moderate"}, "proceed", None),
        ({"acute_flare": False, "planned_pressure": "deep"}, "proceed", None),
        (
            {
                "acute_flare": True,
                "planned_pressure": "light",
                "planned_areas": ["sciatic_nerve_path"],
            },
            "caution",
            "deep_pressure_in_flare",
        ),
    ],
)
def test_screening_verdicts(client, make, body, verdict, rule):
    patient = make.user("patient")
    resp = client.post("/v1/screenings", json=body, headers=make.headers(patient))
    assert resp.status_code == 200
    result = resp.get_json()
    assert result["verdict"] == verdict
    assert [r["rule"] for r in result["reasons"]][:1] == ([rule] if rule else [])


def test_open_urgent_alert_means_do_not_proceed(client, make, linked):
    patient, therapist, alert_id = linked
    body = {"patient_id": str(patient.id), "planned_pressure": "light"}
    resp = client.post("/v1/screenings", json=body, headers=make.headers(therapist))
    assert resp.get_json()["verdict"] == "do_not_proceed"
    client.post(
        f"/v1/alerts/{alert_id}/resolve",
        json={"note": "Cleared by GP."},
        headers=make.headers(therapist),
    )
    after = client.post("/v1/screenings", json=body, headers=make.headers(therapist))
    assert after.get_json()["verdict"] == "proceed"


def test_a_screening_sent_again_with_its_key_is_judged_again(client, make):
    """A screening is the patient's state now: a retry with the same Idempotency-Key after a
    red flag was reported is not answered with the earlier "proceed"."""
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers = make.headers(therapist) | {"Idempotency-Key": "appointment-42-screening"}
    body = {"patient_id": str(patient.id), "planned_pressure": "light"}
    first = client.post("/v1/screenings", json=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["verdict"] == "proceed"
    red_flag = checkin_body(symptoms=RED_FLAG)
    assert (
        client.post("/v1/checkins", json=red_flag, headers=make.headers(patient)).status_code == 201
    )
    again = client.post("/v1/screenings", json=body, headers=headers)
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["verdict"] == "do_not_proceed"
    assert [r["rule"] for r in again.get_json()["reasons"]] == ["red_flag_bladder_bowel"]


def test_a_screening_without_a_consultation_on_file_calls_for_caution(client, make):
    """The guidance: consult a healthcare professional before starting massage."""
    patient = make.user("patient", medically_cleared_at=None)
    headers = make.headers(patient)
    body = {"planned_pressure": "light"}
    first = client.post("/v1/screenings", json=body, headers=headers).get_json()
    assert first["verdict"] == "caution"
    [reason] = first["reasons"]
    assert reason["rule"] == "not_medically_cleared"
    assert "consulting one before starting massage" in reason["message"]
    cleared = client.patch("/v1/me", json={"medically_cleared_at": "2026-11-20"}, headers=headers)
    assert cleared.status_code == 200
    after = client.post("/v1/screenings", json=body, headers=headers).get_json()
    assert after == {"verdict": "proceed", "reasons": []}


def test_a_consultation_dated_after_today_is_not_on_file_yet(client, make):
    """As the not_medically_cleared rule reads it: a consultation to come does not clear."""
    soon = (datetime.now(UTC) + timedelta(days=30)).date()
    patient = make.user("patient", medically_cleared_at=soon)
    headers = make.headers(patient)
    written = client.post("/v1/sessions", json=session_body(), headers=headers).get_json()
    assert "not_medically_cleared" in {a["rule"] for a in written["alerts"]}
    answer = client.post("/v1/screenings", json={"planned_pressure": "light"}, headers=headers)
    assert answer.get_json()["verdict"] == "caution"
    assert [r["rule"] for r in answer.get_json()["reasons"]] == ["not_medically_cleared"]


def test_screening_for_an_unlinked_patient_is_refused(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    resp = client.post(
        "/v1/screenings", json={"patient_id": str(patient.id)}, headers=make.headers(therapist)
    )
    assert resp.status_code == 422 and "patient_id" in resp.get_json()["errors"]


# ---- nerve re-check --------------------------------------------------------------------

NEURO_START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _weakness_checkin(client, headers, felt: datetime, weakness: int) -> dict:
    resp = client.post(
        "/v1/checkins",
        json=checkin_body(
            recorded_at=_iso(felt),
            symptoms={"numbness": 0, "tingling": 0, "weakness": weakness, "side": "left"},
        ),
        headers=headers,
    )
    assert resp.status_code == 201
    return resp.get_json()


def _usual_then_raised(client, headers) -> tuple[list[dict], dict]:
    """Five daily check-ins at weakness 0, then one at grade 1: the re-check alert."""
    calm = [
        _weakness_checkin(client, headers, NEURO_START + timedelta(days=day), 0) for day in range(5)
    ]
    assert all(c["alerts"] == [] for c in calm)
    raised = _weakness_checkin(client, headers, NEURO_START + timedelta(days=5), 1)
    return calm, raised


def test_one_grade_weakness_rise_asks_for_a_recheck_then_escalates_when_sustained(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    _, raised = _usual_then_raised(client, headers)
    [alert] = raised["alerts"]
    assert (alert["rule"], alert["severity"], alert["occurrences"]) == (
        "neuro_recheck",
        "caution",
        1,
    )
    assert alert["evidence"]["report_ids"] == [raised["id"]]
    # The first re-check 12 h later is still one grade up: not yet confirmed by two reports.
    felt = NEURO_START + timedelta(days=5)
    first = _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    [again] = first["alerts"]
    assert again["id"] == alert["id"] and again["severity"] == "caution"
    assert again["occurrences"] == 2
    # The second, 12 h after that: sustained over two more reports spanning 24 h.
    second = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)
    [escalated] = second["alerts"]
    assert escalated["id"] == alert["id"] and escalated["occurrences"] == 3
    assert escalated["severity"] == "warning" and escalated["status"] == "open"
    assert {raised["id"], first["id"], second["id"]} <= set(escalated["evidence"]["report_ids"])
    [stored] = _alerts(db, patient, rule="neuro_recheck")
    assert (stored.severity, stored.severity_rank) == ("warning", 2)
    # A further rise to grade 2 (two above the usual 0) is a separate urgent alert.
    worse = _weakness_checkin(client, headers, felt + timedelta(hours=36), 2)
    [urgent] = worse["alerts"]
    assert (urgent["rule"], urgent["severity"]) == ("progressive_weakness", "urgent")
    assert urgent["id"] != alert["id"]
    assert {(a.rule, a.severity, a.status) for a in _alerts(db, patient)} == {
        ("neuro_recheck", "warning", "open"),
        ("progressive_weakness", "urgent", "open"),
    }


def test_an_acknowledged_recheck_that_escalates_is_open_again(client, make, db):
    """The therapist overrode a caution (a one-grade wobble); two more reports sustain it to a
    warning: it is back in the open inbox, its acknowledgement cleared (the alert-quality
    report counts an override of a caution that escalated, none of a warning), and the
    reopening is audited and told."""
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    headers, clinician = make.headers(patient), make.headers(therapist)
    _, raised = _usual_then_raised(client, headers)
    [caution] = raised["alerts"]
    ack = client.post(
        f"/v1/alerts/{caution['id']}/acknowledge",
        json={"outcome": "overridden", "reason": "One-grade wobble, seen before."},
        headers=clinician,
    )
    assert ack.status_code == 200 and ack.get_json()["status"] == "acknowledged"
    felt = NEURO_START + timedelta(days=5)
    [still] = _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)["alerts"]
    assert (still["severity"], still["status"]) == ("caution", "acknowledged")
    [warning] = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)["alerts"]
    assert (warning["id"], warning["severity"], warning["status"]) == (
        caution["id"],
        "warning",
        "open",
    )
    assert warning["acknowledged_by"] is None and warning["acknowledgement_outcome"] is None
    inbox = client.get("/v1/alerts?status=open", headers=clinician).get_json()["items"]
    assert [a["id"] for a in inbox] == [caution["id"]]
    quality = client.get("/v1/reports/alert-quality", headers=clinician).get_json()["rows"]
    rows = {r["severity"]: r for r in quality if r["rule"] == "neuro_recheck"}
    assert (rows["warning"]["overridden"], rows["warning"]["acknowledged"]) == (0, 0)
    assert (rows["caution"]["overridden"], rows["caution"]["overridden_then_escalated"]) == (1, 1)
    db.expire_all()
    actions = db.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.resource_id == caution["id"])
        .order_by(AuditEvent.occurred_at)
    )
    assert list(actions) == ["alert.acknowledge", "alert.reopen_escalated"]
    told = db.execute(
        select(OutboxEvent.type, OutboxEvent.payload)
        .where(OutboxEvent.alert_id == uuid.UUID(caution["id"]))
        .order_by(OutboxEvent.created_at)
    )
    last_type, last = list(told)[-1]
    assert (last_type, last["data"]["severity"], last["data"]["status"]) == (
        "alert.updated",
        "warning",
        "open",
    )
    # Acknowledged again, at the severity it now has.
    again = client.post(
        f"/v1/alerts/{caution['id']}/acknowledge",
        json={"outcome": "accepted", "reason": "Sustained: referred to the GP."},
        headers=clinician,
    )
    assert again.status_code == 200 and again.get_json()["status"] == "acknowledged"


def test_a_late_confirmation_that_escalates_gives_the_alert_the_escalated_texts(client, make):
    """The re-check is sustained to a warning by a check-in synced late, felt before the
    latest one-grade report: the warning reads as a warning, not as the caution after it."""
    headers = make.headers(make.user("patient"))
    _usual_then_raised(client, headers)
    felt = NEURO_START + timedelta(days=5)
    _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    _weakness_checkin(client, headers, felt + timedelta(hours=36), 0)
    [caution] = _weakness_checkin(client, headers, felt + timedelta(hours=48), 1)["alerts"]
    assert caution["severity"] == "caution"
    [late] = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)["alerts"]
    assert (late["id"], late["severity"]) == (caution["id"], "warning")
    assert late["title"] == "Nerve symptoms stronger than usual on several reports"
    assert "earlier reports as well" in late["message"]


def test_correcting_a_report_a_firing_cites_updates_what_the_alert_says(client, make, db):
    """Weakness 0 five times, 1 (a typo), then 3: the urgent alert cites "0, 0, 1" from the
    reports just before. The typo corrected to 0, the same firing cites "0, 0, 0"."""
    headers = make.headers(make.user("patient"))
    for day in range(5):
        _weakness_checkin(client, headers, NEURO_START + timedelta(days=day), 0)
    typo = _weakness_checkin(client, headers, NEURO_START + timedelta(days=5), 1)
    severe = _weakness_checkin(client, headers, NEURO_START + timedelta(days=6), 3)
    [urgent] = [a for a in severe["alerts"] if a["rule"] == "progressive_weakness"]
    assert "reported before: 0, 0, 1" in urgent["message"]
    grades = {"numbness": 0, "tingling": 0, "weakness": 0, "side": "left"}
    fixed = client.patch(f"/v1/checkins/{typo['id']}", json={"symptoms": grades}, headers=headers)
    told = {a["rule"]: a for a in fixed.get_json()["alerts"]}
    updated = told["progressive_weakness"]
    assert (updated["id"], updated["status"]) == (urgent["id"], "open")
    assert updated["evidence"]["items"][-1]["previous_grades"] == [0, 0, 0]
    assert "reported before: 0, 0, 0" in updated["message"]


def test_pain_only_check_ins_are_not_graded_and_leave_the_usual_grade_alone(client, make, db):
    """A patient whose usual numbness is 1 sends eight check-ins giving pain only, then a
    report at grade 2: one grade above the usual, a re-check. Stored as grade 0, the pain-only
    check-ins made the usual grade 0 and the grade 2 an urgent "significant numbness"."""
    patient = make.user("patient")
    headers = make.headers(patient)

    def graded(day: float, numbness: int) -> dict:
        symptoms = {"numbness": numbness, "tingling": 1, "weakness": 0, "side": "left"}
        return _checkin_on(client, headers, day, symptoms=symptoms)

    for day in range(5):
        graded(day, 1)
    pain_only = []
    for half_days in range(8):
        body = {"recorded_at": _iso(DAY0 + timedelta(days=5 + half_days / 2)), "pain": 4}
        resp = client.post("/v1/checkins", json=body, headers=headers)
        assert resp.status_code == 201
        pain_only.append(resp.get_json())
    assert all(c["alerts"] == [] for c in pain_only)
    not_graded = dict.fromkeys(("numbness", "tingling", "weakness", "side"))
    assert all(c["symptoms"] == not_graded | dict.fromkeys(RED_FLAGS, False) for c in pain_only)
    stored = db.scalars(select(CheckIn).where(CheckIn.numbness.is_(None))).all()
    assert sorted(str(c.id) for c in stored) == sorted(c["id"] for c in pain_only)

    # Screened before the session, the grade 2 asks for a re-check; it does not stop it.
    plan = {"planned_pressure": "light", "planned_areas": ["lower_back"]}
    screening = client.post(
        "/v1/screenings", json=plan | {"symptoms": {"numbness": 2}}, headers=headers
    ).get_json()
    assert (screening["verdict"], [r["rule"] for r in screening["reasons"]]) == (
        "caution",
        ["neuro_recheck"],
    )
    raised = graded(10, 2)
    assert [(a["rule"], a["severity"]) for a in raised["alerts"]] == [("neuro_recheck", "caution")]
    evidence = raised["alerts"][0]["evidence"]["items"][-1]
    assert (evidence["usual_grade"], evidence["grade"], evidence["previous_grades"]) == (
        1,
        2,
        [1, 1, 1],
    )
    assert _alerts(db, patient, severity="urgent") == []


def test_a_month_of_pain_only_check_ins_keeps_the_grades_a_write_is_judged_against(
    client, make, db
):
    """Usual weakness 0, then 25 daily check-ins giving pain only (more than the 20 reports
    a write reads back), then weakness 2: two grades above the usual grade, urgent."""
    patient = make.user("patient")
    headers = make.headers(patient)
    for day, grade in enumerate((0, 1, 0, 0, 0, 0)):
        _weakness_checkin(client, headers, NEURO_START + timedelta(days=day), grade)
    for day in range(25):
        body = {"recorded_at": _iso(NEURO_START + timedelta(days=6 + day)), "pain": 4}
        assert client.post("/v1/checkins", json=body, headers=headers).status_code == 201
    risen = _weakness_checkin(client, headers, NEURO_START + timedelta(days=32), 2)
    [urgent] = risen["alerts"]
    assert (urgent["rule"], urgent["severity"]) == ("progressive_weakness", "urgent")
    evidence = urgent["evidence"]["items"][-1]
    assert (evidence["usual_grade"], evidence["usual_basis"], evidence["previous_grades"]) == (
        0,
        "earlier reports",
        [0, 0, 0],
    )
    [stored] = _alerts(db, patient, rule="progressive_weakness")
    assert stored.status == "open"


@pytest.mark.parametrize("change", ["corrected", "synced late"])
def test_an_old_grade_changed_re_judges_the_grades_after_a_month_of_pain_only(
    app, client, make, db, change
):
    """Weakness 1, 35 check-ins giving pain only, then weakness 2: a re-check. The first
    grade then turns out to be 0 (corrected, or a report felt before it arrives late): the
    2 is two grades above the usual grade, urgent, though it is 36 reports later, beyond
    the 30 a write otherwise re-judges. A full re-analysis finds nothing more to do."""
    patient = make.user("patient")
    headers = make.headers(patient)
    if change == "corrected":
        first = _weakness_checkin(client, headers, NEURO_START, 1)
    for day in range(1, 36):
        body = {"recorded_at": _iso(NEURO_START + timedelta(days=day)), "pain": 4}
        assert client.post("/v1/checkins", json=body, headers=headers).status_code == 201
    raised = _weakness_checkin(client, headers, NEURO_START + timedelta(days=36), 2)
    assert [(a["rule"], a["severity"]) for a in raised["alerts"]] == [("neuro_recheck", "caution")]

    if change == "corrected":
        grade_0 = {"symptoms": {"weakness": 0}}
        resp = client.patch(f"/v1/checkins/{first['id']}", json=grade_0, headers=headers)
        assert resp.status_code == 200
    else:
        resp = client.post(
            "/v1/checkins",
            json=checkin_body(
                recorded_at=_iso(NEURO_START - timedelta(hours=12)),
                symptoms={"numbness": 0, "tingling": 0, "weakness": 0, "side": "left"},
            ),
            headers=headers,
        )
        assert resp.status_code == 201
    told = {(a["rule"], a["severity"], a["status"]) for a in resp.get_json()["alerts"]}
    assert ("progressive_weakness", "urgent", "open") in told
    opened = {(a.rule, a.severity) for a in _alerts(db, patient, status="open")}
    # A correction withdraws the re-check it undid; a report synced late withdraws nothing.
    kept = {("neuro_recheck", "caution")} if change == "synced late" else set()
    assert opened == {("progressive_weakness", "urgent")} | kept
    result = app.test_cli_runner().invoke(args=["analyze", "--patient", str(patient.id)])
    assert result.output.strip().endswith("0 raised, 0 updated, 0 resolved"), result.output


def test_correcting_the_confirming_reports_takes_the_recheck_back_to_caution(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    _, raised = _usual_then_raised(client, headers)
    felt = NEURO_START + timedelta(days=5)
    first = _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    second = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)
    [alert] = _alerts(db, patient, rule="neuro_recheck")
    assert alert.severity == "warning"
    sustained = f"neuro_recheck:{second['id']}:sustained"
    assert db.scalar(select(AlertTrigger).where(AlertTrigger.key == sustained)) is not None

    grade_0 = {"symptoms": {"weakness": 0}}
    resp = client.patch(f"/v1/checkins/{first['id']}", json=grade_0, headers=headers)
    assert resp.status_code == 200
    [updated] = resp.get_json()["alerts"]
    # Without the first re-check the second confirms nothing: the escalation is withdrawn.
    assert updated["id"] == str(alert.id) and updated["severity"] == "caution"
    assert updated["status"] == "open"
    db.expire_all()
    trigger = db.scalar(select(AlertTrigger).where(AlertTrigger.key == sustained))
    assert trigger.withdrawn_at is not None
    [stored] = _alerts(db, patient, rule="neuro_recheck")
    assert (stored.severity, stored.severity_rank, stored.status) == ("caution", 1, "open")
    assert first["id"] not in stored.evidence["report_ids"]

    resp = client.patch(f"/v1/checkins/{second['id']}", json=grade_0, headers=headers)
    assert resp.status_code == 200
    [stored] = _alerts(db, patient, rule="neuro_recheck")
    # The first raised report still stands, so the re-check stays open as a caution.
    assert (stored.severity, stored.status) == ("caution", "open")
    assert stored.evidence["report_ids"] == [raised["id"]]

    resp = client.patch(f"/v1/checkins/{raised['id']}", json=grade_0, headers=headers)
    [resolved] = resp.get_json()["alerts"]
    assert resolved["status"] == "resolved" and resolved["resolution"] == "data_corrected"
    assert _alerts(db, patient, status="open") == []


def test_open_recheck_makes_the_screening_cautious(client, make, db):
    patient, therapist, calm = make.user("patient"), make.user("therapist"), make.user("patient")
    make.link(patient, therapist)
    make.link(calm, therapist)
    _usual_then_raised(client, make.headers(patient))
    [alert] = _alerts(db, patient)
    assert (alert.rule, alert.severity, alert.status) == ("neuro_recheck", "caution", "open")
    for day in range(6):
        _weakness_checkin(client, make.headers(calm), NEURO_START + timedelta(days=day), 0)
    plan = {"planned_pressure": "light", "planned_areas": ["lower_back"]}
    for user, screened, verdict, rules in (
        (patient, patient, "caution", ["neuro_recheck"]),
        (therapist, patient, "caution", ["neuro_recheck"]),
        (calm, calm, "proceed", []),
        (therapist, calm, "proceed", []),
    ):
        body = plan | ({"patient_id": str(screened.id)} if user is therapist else {})
        resp = client.post("/v1/screenings", json=body, headers=make.headers(user))
        assert resp.status_code == 200
        result = resp.get_json()
        assert result["verdict"] == verdict
        assert [r["rule"] for r in result["reasons"]] == rules
        if rules:
            assert "re-check" in result["reasons"][0]["message"].lower()


@pytest.mark.parametrize(
    ("symptoms", "verdict", "rule", "severity"),
    [
        # Two grades above this patient's usual 0: what a check-in of it raises is urgent.
        ({"numbness": 2, "side": "left"}, "do_not_proceed", "significant_numbness", "urgent"),
        ({"weakness": 2, "side": "left"}, "do_not_proceed", "progressive_weakness", "urgent"),
        # Both sides after one-sided reports.
        ({"tingling": 1, "side": "both"}, "do_not_proceed", "bilateral_symptoms", "urgent"),
        # One grade above: a re-check first.
        ({"numbness": 1, "side": "left"}, "caution", "neuro_recheck", "caution"),
        ({"numbness": 0, "side": "left"}, "proceed", None, None),
    ],
)
def test_screening_judges_symptoms_against_the_patients_own_reports(
    client, make, db, symptoms, verdict, rule, severity
):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    for day in range(5):
        _weakness_checkin(client, make.headers(patient), NEURO_START + timedelta(days=day), 0)
    body = {"symptoms": symptoms, "planned_pressure": "light"}
    for user, sent in ((patient, body), (therapist, body | {"patient_id": str(patient.id)})):
        resp = client.post("/v1/screenings", json=sent, headers=make.headers(user))
        assert resp.status_code == 200
        result = resp.get_json()
        assert (result["verdict"], [r["rule"] for r in result["reasons"]]) == (
            verdict,
            [rule] if rule else [],
        )
    if rule == "significant_numbness":  # (weakness 2 stops whatever the usual grade)
        assert "2 grades above the usual grade of 0" in result["reasons"][0]["message"]
    # The same symptoms recorded as a check-in raise the alert the screening foresaw.
    recorded = _checkin(
        client,
        make.headers(patient),
        NEURO_START + timedelta(days=6),
        pain=4,
        symptoms={"numbness": 0, "tingling": 0, "weakness": 0} | symptoms,
    )
    assert [(a["rule"], a["severity"]) for a in recorded["alerts"]] == (
        [(rule, severity)] if rule else []
    )


def test_a_new_patients_screening_takes_a_mild_grade_as_usual(client, make):
    patient = make.user("patient")
    body = {"symptoms": {"numbness": 1, "side": "left"}}
    resp = client.post("/v1/screenings", json=body, headers=make.headers(patient))
    assert resp.get_json() == {"verdict": "proceed", "reasons": []}


def test_a_new_patients_weakness_rising_on_every_report_is_urgent_at_two_grades(client, make):
    """0, then 1, then 2 from a patient's first check-ins: the 1 asks for a re-check, the 2
    is two grades above where their own reports started; the screening of the same symptoms
    stops the session too."""
    patient = make.user("patient")
    headers = make.headers(patient)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = _weakness_checkin(client, headers, start, 0)
    assert first["alerts"] == []
    raised = _weakness_checkin(client, headers, start + timedelta(days=2), 1)
    assert [(a["rule"], a["severity"]) for a in raised["alerts"]] == [("neuro_recheck", "caution")]
    risen = _weakness_checkin(client, headers, start + timedelta(days=4), 2)
    [urgent] = [a for a in risen["alerts"] if a["rule"] != "neuro_recheck"]
    assert (urgent["rule"], urgent["severity"]) == ("progressive_weakness", "urgent")
    assert urgent["evidence"]["items"][0]["pattern"] == "rising since the first reports"
    assert "the grades you reported before: 0, 1" in urgent["message"]
    assert "usual" not in urgent["message"]
    screened = client.post(
        "/v1/screenings", json={"symptoms": {"weakness": 2}}, headers=headers
    ).get_json()
    assert screened["verdict"] == "do_not_proceed"


# ---- a report's felt time corrected, and the span a later write judges -----------------

T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)


def _checkin(client, headers, at: datetime, **body) -> dict:
    resp = client.post(
        "/v1/checkins", json=checkin_body(recorded_at=_iso(at), **body), headers=headers
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _move(client, headers, checkin: dict, at: datetime) -> dict:
    path = f"/v1/checkins/{checkin['id']}"
    resp = client.patch(path, json={"recorded_at": _iso(at)}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _red_flags(db, patient) -> list[tuple]:
    return [(a.status, a.resolution) for a in _alerts(db, patient, rule="red_flag_bladder_bowel")]


def test_a_red_flag_moved_earlier_stays_open_when_a_late_report_lands_where_it_was(
    client, make, db
):
    """The patient corrects when a red-flag check-in was felt (two days earlier); a report
    synced late then lands between the old and the new time. The alert's trigger moved with
    its report: the late report's analysis does not take it for corrected away."""
    patient = make.user("patient")
    headers = make.headers(patient)
    for day in range(3):
        _checkin(client, headers, T0 + timedelta(days=day))
    flag = _checkin(client, headers, T0 + timedelta(days=5), symptoms=RED_FLAG)
    moved_to = T0 + timedelta(days=1, hours=2)
    _move(client, headers, flag, moved_to)
    trigger = db.scalar(select(AlertTrigger).where(AlertTrigger.patient_id == patient.id))
    assert trigger.felt_at == moved_to and trigger.evidence["felt_at"] == moved_to.isoformat()
    [alert] = _alerts(db, patient, rule="red_flag_bladder_bowel")
    assert [item["felt_at"] for item in alert.evidence["items"]] == [moved_to.isoformat()]
    late = _checkin(client, headers, T0 + timedelta(days=3))
    assert late["alerts"] == []
    assert _red_flags(db, patient) == [("open", None)]


def test_a_red_flag_moved_later_past_the_reports_judged_after_its_old_time_stays_open(
    client, make, db
):
    """Moved later than the 31 reports felt after it (more than one analysis judges after
    its old time): it is judged at its new place, and its alert stays open."""
    patient = make.user("patient")
    headers = make.headers(patient)
    flag = _checkin(client, headers, T0, symptoms=RED_FLAG)
    for i in range(31):
        _checkin(client, headers, T0 + timedelta(days=1, hours=6 * i))
    moved = _move(client, headers, flag, T0 + timedelta(days=20))
    # Found again where it now is: updated (its evidence says when), not resolved.
    [alert] = moved["alerts"]
    assert (alert["rule"], alert["status"], alert["occurrences"]) == (
        "red_flag_bladder_bowel",
        "open",
        1,
    )
    assert [item["felt_at"] for item in alert["evidence"]["items"]] == [
        (T0 + timedelta(days=20)).isoformat()
    ]
    assert _red_flags(db, patient) == [("open", None)]


def test_a_firing_that_no_longer_holds_where_its_report_moved_is_withdrawn(client, make, db):
    """Symptoms on both sides after 35 one-sided check-ins raise an urgent alert. Moved
    before all of them (more than the 30 judged after its new place), its report no longer
    follows one-sided ones: judged again from its old place, the firing is withdrawn and
    the alert resolved as corrected."""
    patient = make.user("patient")
    headers = make.headers(patient)
    one_side = {"numbness": 0, "tingling": 0, "weakness": 0, "side": "left"}
    for day in range(35):
        _checkin(client, headers, T0 + timedelta(days=day), symptoms=one_side)
    both = _checkin(client, headers, T0 + timedelta(days=40), symptoms=one_side | {"side": "both"})
    [raised] = both["alerts"]
    assert (raised["rule"], raised["severity"]) == ("bilateral_symptoms", "urgent")
    moved = _move(client, headers, both, T0 - timedelta(days=1))
    assert [(a["rule"], a["status"], a["resolution"]) for a in moved["alerts"]] == [
        ("bilateral_symptoms", "resolved", "data_corrected")
    ]
    trigger = db.scalar(select(AlertTrigger).where(AlertTrigger.patient_id == patient.id))
    assert trigger.withdrawn_at is not None


def test_a_red_flag_moved_later_then_deleted_resolves_its_alert(client, make, db):
    """Moved, then deleted: the alert's only evidence is gone, and it is resolved as
    corrected (its trigger is where its report was when deleted)."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _checkin(client, headers, T0)
    flag = _checkin(client, headers, T0 + timedelta(days=1), symptoms=RED_FLAG)
    _checkin(client, headers, T0 + timedelta(days=2))
    _move(client, headers, flag, T0 + timedelta(days=3))
    assert client.delete(f"/v1/checkins/{flag['id']}", headers=headers).status_code == 204
    assert _red_flags(db, patient) == [("resolved", "data_corrected")]


def test_reports_felt_at_the_same_time_where_the_judged_span_ends_are_judged_together(
    client, make, db
):
    """A late report re-judges at most 30 of each kind felt after it. Two check-ins share
    the felt time of the 30th, the red flag being the one left unread: the span judged
    ends before both, and the red flag's alert stays open."""
    patient = make.user("patient")
    headers = make.headers(patient)
    start = T0 + timedelta(days=1)
    for i in range(28):
        _checkin(client, headers, start + timedelta(hours=6 * i))
    tie = start + timedelta(days=10)
    _checkin(client, headers, tie, id="00000000-0000-4000-8000-000000000001")
    _checkin(client, headers, tie, id="ffffffff-ffff-4fff-8fff-ffffffffffff", symptoms=RED_FLAG)
    assert _red_flags(db, patient) == [("open", None)]
    late = _checkin(client, headers, T0)
    assert late["alerts"] == []
    assert _red_flags(db, patient) == [("open", None)]


def test_analyze_command_moves_a_trigger_left_at_its_reports_old_time(app, client, make, db):
    """Written before triggers moved with their report: `flask analyze` moves it."""
    patient = make.user("patient")
    flag = _checkin(client, make.headers(patient), T0, symptoms=RED_FLAG)
    db.execute(
        update(AlertTrigger)
        .where(AlertTrigger.patient_id == patient.id)
        .values(felt_at=T0 + timedelta(days=4))
    )
    db.flush()
    result = app.test_cli_runner().invoke(args=["analyze", "--patient", flag["patient_id"]])
    assert "updated  urgent  red_flag_bladder_bowel" in result.output
    assert result.output.strip().endswith("0 raised, 1 updated, 0 resolved"), result.output
    db.expire_all()
    trigger = db.scalar(select(AlertTrigger).where(AlertTrigger.patient_id == patient.id))
    assert trigger.felt_at == T0
    assert _red_flags(db, patient) == [("open", None)]


@pytest.mark.parametrize("seed", [1, 2])
def test_no_red_flag_is_lost_or_kept_through_late_syncs_corrections_and_deletions(
    client, make, db, seed
):
    """A phone's history as it happens: reports synced late, felt times corrected either
    way (across many others, beyond the 30 re-judged after a focus, onto other reports'
    times), reports deleted. After every write, each red flag still recorded has an open
    alert with a live firing at the report's felt time, and each one deleted has none."""
    rng = random.Random(seed)
    patient = make.user("patient")
    headers = make.headers(patient)
    recorded: dict[str, tuple[str, bool]] = {}  # id -> (kind, red flag)

    def felt() -> datetime:  # on a 6-hour grid: many reports share a felt time
        return T0 + timedelta(hours=6 * rng.randint(0, 160))

    def record() -> None:
        kind = rng.choice(["checkins", "checkins", "sessions"])
        red = rng.random() < 0.1
        body = (
            checkin_body(recorded_at=_iso(felt()))
            if kind == "checkins"
            else session_body(
                started_at=_iso(felt()), pain_before=4, pain_after=rng.choice([3, 4, 7])
            )
        )
        if red:
            body["symptoms"] = RED_FLAG
        resp = client.post(f"/v1/{kind}", json=body, headers=headers)
        assert resp.status_code == 201, resp.get_json()
        recorded[resp.get_json()["id"]] = (kind, red)

    for _ in range(45):
        record()
    deleted: set[str] = set()
    for step in range(45):
        report_id = rng.choice(sorted(recorded))
        kind, red = recorded[report_id]
        path = f"/v1/{kind}/{report_id}"
        action = rng.random()
        if action < 0.65:
            field = "recorded_at" if kind == "checkins" else "started_at"
            assert (
                client.patch(path, json={field: _iso(felt())}, headers=headers).status_code == 200
            )
        elif action < 0.8:
            assert client.delete(path, headers=headers).status_code == 204
            del recorded[report_id]
            deleted.add(report_id)
        else:
            record()
        db.expire_all()
        firings = {
            trigger.key: trigger
            for trigger in db.scalars(
                select(AlertTrigger).where(
                    AlertTrigger.patient_id == patient.id,
                    AlertTrigger.key.startswith("red_flag_bladder_bowel:"),
                )
            )
        }
        for report_id, (kind, red) in recorded.items():
            if not red:
                continue
            model = CheckIn if kind == "checkins" else MassageSession
            report = db.get(model, uuid.UUID(report_id))
            firing = firings.get(f"red_flag_bladder_bowel:{report_id}")
            assert firing is not None and firing.withdrawn_at is None, (seed, step, report_id)
            assert firing.felt_at == report.felt_at, (seed, step, report_id)
            assert db.get(Alert, firing.alert_id).status == "open", (seed, step, report_id)
        for report_id in deleted:
            firing = firings.get(f"red_flag_bladder_bowel:{report_id}")
            assert firing is None or firing.withdrawn_at is not None, (seed, step, report_id)
