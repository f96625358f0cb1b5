"""The alert-quality report: figures per rule and severity recomputed here from the raw
alert rows, its period, who sees which alerts, and refused callers."""

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median

import pytest
from sqlalchemy import select

from models import Alert, AlertAcknowledgement, AuditEvent, utcnow
from models.alert import SEVERITIES
from tests.api.test_alerts import NEURO_START, _usual_then_raised, _weakness_checkin
from tests.api.test_patient_reports import count_statements
from tests.conftest import checkin_body, session_body

URL = "/v1/reports/alert-quality"
FROM = datetime(2026, 3, 1, tzinfo=UTC)
TO = datetime(2026, 4, 1, tzinfo=UTC)
PERIOD = f"{URL}?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z"

# patient, rule, severity, days after FROM, seconds to acknowledge, outcome, resolution
ROWS = [
    (0, "red_flag_bladder_bowel", "urgent", 1, 120, "accepted", "clinician"),
    (0, "red_flag_bladder_bowel", "urgent", 5, 300, "accepted", None),
    (1, "red_flag_bladder_bowel", "urgent", 7, 4000, "overridden", None),
    (1, "severe_pain", "caution", 2, None, None, "data_corrected"),
    (0, "severe_pain", "caution", 3, 60.5, "overridden", "clinician"),
    (0, "severe_pain", "caution", 9, 90, "accepted", "clinician"),
    (1, "severe_pain", "caution", 12, None, None, None),
    (0, "worsening_trend", "warning", 4, None, None, "data_corrected"),
    (1, "worsening_trend", "warning", 20, 86400, "overridden", "data_corrected"),
    (0, "neuro_recheck", "caution", 6, None, None, None),
    (0, "neuro_recheck", "warning", 8, 45, "accepted", "clinician"),
    (1, "not_medically_cleared", "info", 10, None, None, None),
]


def _alert(
    db, patient, rule, severity, first_seen_at, *, waited=None, outcome=None, resolution=None
):
    acknowledged_at = None if waited is None else first_seen_at + timedelta(seconds=waited)
    status = "resolved" if resolution else "acknowledged" if acknowledged_at else "open"
    alert = Alert(
        patient_id=patient.id,
        rule=rule,
        severity=severity,
        severity_rank=SEVERITIES.index(severity),
        status=status,
        title=rule,
        message="m",
        clinician_message="c",
        recommendation="r",
        evidence={"report_ids": [], "items": []},
        first_seen_at=first_seen_at,
        last_seen_at=first_seen_at,
        ruleset_version="test",
        acknowledged_at=acknowledged_at,
        acknowledgement_outcome=outcome,
        resolution=resolution,
        resolved_at=first_seen_at + timedelta(days=1) if resolution else None,
    )
    db.add(alert)
    db.flush()
    if acknowledged_at is not None:
        db.add(
            AlertAcknowledgement(
                alert_id=alert.id,
                severity=severity,
                outcome=outcome,
                acknowledged_at=acknowledged_at,
                opened_at=first_seen_at,
            )
        )
        db.flush()
    return alert


def _figures(alerts) -> dict:
    acknowledged = [a for a in alerts if a.acknowledged_at is not None]
    accepted = sum(a.acknowledgement_outcome == "accepted" for a in alerts)
    overridden = sum(a.acknowledgement_outcome == "overridden" for a in alerts)
    waits = [(a.acknowledged_at - a.first_seen_at).total_seconds() for a in acknowledged]
    corrected = sum(a.resolution == "data_corrected" for a in alerts)
    decided = accepted + overridden
    return {
        "raised": len(alerts),
        "acknowledged": len(acknowledged),
        "accepted": accepted,
        "overridden": overridden,
        "overridden_then_escalated": 0,
        "override_rate": round(overridden / decided, 3) if decided else None,
        "median_seconds_to_acknowledge": round(median(waits), 3) if waits else None,
        "data_corrected": corrected,
        "data_corrected_share": round(corrected / len(alerts), 3) if alerts else None,
    }


def _expected(alerts) -> tuple[list[dict], dict]:
    groups = defaultdict(list)
    for alert in alerts:
        groups[alert.rule, alert.severity].append(alert)
    rows = [
        {"rule": rule, "severity": severity, **_figures(group)}
        for (rule, severity), group in groups.items()
    ]
    rows.sort(key=lambda r: (-SEVERITIES.index(r["severity"]), r["rule"]))
    return rows, _figures(alerts)


def _rules(body) -> set[str]:
    return {row["rule"] for row in body["rows"]}


@pytest.fixture
def linked(make):
    therapist = make.user("therapist")
    patients = [make.user("patient"), make.user("patient")]
    for patient in patients:
        make.link(patient, therapist)
    return therapist, patients


def test_figures_per_rule_and_severity_match_the_raw_rows(client, make, db, linked):
    therapist, patients = linked
    alerts = [
        _alert(
            db,
            patients[who],
            rule,
            severity,
            FROM + timedelta(days=days, minutes=who),
            waited=waited,
            outcome=outcome,
            resolution=resolution,
        )
        for who, rule, severity, days, waited, outcome, resolution in ROWS
    ]
    resp = client.get(PERIOD, headers=make.headers(therapist))
    assert resp.status_code == 200
    body = resp.get_json()
    rows, totals = _expected(alerts)
    assert (body["from"], body["to"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    assert body["rows"] == rows
    assert body["totals"] == totals
    # The same figures, worked out by hand from ROWS.
    assert [(r["severity"], r["rule"]) for r in body["rows"]] == [
        ("urgent", "red_flag_bladder_bowel"),
        ("warning", "neuro_recheck"),
        ("warning", "worsening_trend"),
        ("caution", "neuro_recheck"),
        ("caution", "severe_pain"),
        ("info", "not_medically_cleared"),
    ]
    red_flag, _, trend, recheck, severe, cleared = body["rows"]
    assert (red_flag["raised"], red_flag["override_rate"]) == (3, 0.333)
    assert red_flag["median_seconds_to_acknowledge"] == 300
    assert (severe["raised"], severe["acknowledged"], severe["override_rate"]) == (4, 2, 0.5)
    assert severe["median_seconds_to_acknowledge"] == 75.25
    assert (severe["data_corrected"], severe["data_corrected_share"]) == (1, 0.25)
    assert (trend["data_corrected_share"], trend["override_rate"]) == (1.0, 1.0)
    assert recheck["override_rate"] is None and recheck["median_seconds_to_acknowledge"] is None
    assert cleared["acknowledged"] == 0 and cleared["data_corrected_share"] == 0
    assert totals["raised"] == 12 and totals["acknowledged"] == 7
    assert body["totals"]["median_seconds_to_acknowledge"] == 120
    assert body["totals"]["override_rate"] == round(3 / 7, 3)
    assert body["totals"]["data_corrected_share"] == 0.25


def test_period_includes_from_and_excludes_to(client, make, db, linked):
    therapist, (patient, other) = linked
    tick = timedelta(microseconds=1)
    _alert(db, patient, "worsening_trend", "warning", FROM - tick)
    _alert(db, patient, "severe_pain", "caution", FROM)
    _alert(db, patient, "deep_pressure_in_flare", "caution", TO - tick)
    _alert(db, patient, "post_session_worsening", "caution", TO)
    _alert(db, other, "severe_pain", "caution", TO + timedelta(days=1))
    body = client.get(PERIOD, headers=make.headers(therapist)).get_json()
    assert _rules(body) == {"severe_pain", "deep_pressure_in_flare"}
    assert body["totals"]["raised"] == 2
    shifted = client.get(
        f"{URL}?from=2026-03-01T00:00:00.000001Z&to=2026-04-01T00:00:00.000001Z",
        headers=make.headers(therapist),
    ).get_json()
    assert _rules(shifted) == {"deep_pressure_in_flare", "post_session_worsening"}


def test_default_period_is_the_90_days_up_to_now(client, make, db, linked):
    therapist, (patient, other) = linked
    now = utcnow()
    _alert(db, patient, "severe_pain", "caution", now - timedelta(days=89))
    _alert(db, patient, "worsening_trend", "warning", now - timedelta(days=91))
    _alert(db, other, "severe_pain", "caution", now + timedelta(hours=1))
    headers = make.headers(therapist)
    body = client.get(URL, headers=headers).get_json()
    end = datetime.fromisoformat(body["to"])
    assert now <= end <= utcnow()
    assert datetime.fromisoformat(body["from"]) == end - timedelta(days=90)
    assert _rules(body) == {"severe_pain"} and body["totals"]["raised"] == 1
    only_to = client.get(f"{URL}?to=2026-04-01T02:00:00%2B02:00", headers=headers).get_json()
    assert (only_to["from"], only_to["to"]) == ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")
    only_from = client.get(f"{URL}?from=2026-03-01T00:00:00Z", headers=headers).get_json()
    assert only_from["from"] == "2026-03-01T00:00:00Z"
    assert datetime.fromisoformat(only_from["to"]) >= now


def test_therapist_sees_actively_linked_patients_only_admin_sees_all(client, make, db):
    therapist, colleague = make.user("therapist"), make.user("therapist")
    linked, unlinked, former, elsewhere = (make.user("patient") for _ in range(4))
    make.link(linked, therapist)
    make.link(former, therapist, status="ended")
    make.link(elsewhere, colleague)
    day = FROM + timedelta(days=3)
    _alert(db, linked, "severe_pain", "caution", day, waited=60, outcome="accepted")
    _alert(db, unlinked, "red_flag_bladder_bowel", "urgent", day)
    _alert(db, former, "worsening_trend", "warning", day, waited=30, outcome="overridden")
    _alert(db, elsewhere, "deep_pressure_in_flare", "caution", day)
    mine = client.get(PERIOD, headers=make.headers(therapist)).get_json()
    assert _rules(mine) == {"severe_pain"}
    assert mine["totals"]["raised"] == 1 and mine["totals"]["override_rate"] == 0
    everyone = client.get(PERIOD, headers=make.headers(make.user("admin"))).get_json()
    assert _rules(everyone) == {
        "severe_pain",
        "red_flag_bladder_bowel",
        "worsening_trend",
        "deep_pressure_in_flare",
    }
    assert everyone["totals"]["raised"] == 4 and everyone["totals"]["override_rate"] == 0.5


def test_no_alerts_gives_zero_counts_and_null_rates(client, make, linked):
    therapist, _ = linked
    body = client.get(PERIOD, headers=make.headers(therapist)).get_json()
    assert body["rows"] == []
    assert body["totals"] == {
        "raised": 0,
        "acknowledged": 0,
        "accepted": 0,
        "overridden": 0,
        "overridden_then_escalated": 0,
        "override_rate": None,
        "median_seconds_to_acknowledge": None,
        "data_corrected": 0,
        "data_corrected_share": None,
    }


def test_patients_are_refused_like_the_other_clinician_reports(client, make, db):
    patient = make.user("patient")
    _alert(db, patient, "severe_pain", "caution", FROM + timedelta(days=1))
    headers = make.headers(patient)
    resp = client.get(PERIOD, headers=headers)
    caseload = client.get("/v1/reports/caseload", headers=headers)
    assert resp.status_code == caseload.status_code == 403
    assert resp.mimetype == "application/problem+json"
    anonymous = client.get(PERIOD)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith(
        "Bearer"
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"),
        ("from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"),
        ("from=2026-03-01T01:00:00%2B01:00&to=2026-03-01T00:00:00Z", "from"),
        ("from=2026-03-01T00:00:00", "from"),
        ("from=yesterday", "from"),
        ("from=1800-01-01T00:00:00Z", "from"),
        ("to=2300-01-01T00:00:00Z", "to"),
        ("to=2026-03-01", "to"),
        ("from=2199-01-01T00:00:00Z", "from"),
    ],
)
def test_invalid_period_is_a_422_problem(client, make, linked, query, field):
    therapist, _ = linked
    resp = client.get(f"{URL}?{query}", headers=make.headers(therapist))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["status"] == 422 and problem["title"] and problem["type"]
    assert field in problem["errors"], problem


def _acknowledge(client, headers, alert_id, outcome) -> dict:
    resp = client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": outcome, "reason": "Discussed with the patient."},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _seconds(acknowledged: dict) -> float:
    first = datetime.fromisoformat(acknowledged["first_seen_at"])
    return (datetime.fromisoformat(acknowledged["acknowledged_at"]) - first).total_seconds()


def test_alerts_raised_and_acknowledged_through_the_api_are_counted(client, make, db, linked):
    therapist, (flared, corrected) = linked
    t_headers = make.headers(therapist)
    flare = session_body(
        started_at=(utcnow() - timedelta(hours=2)).isoformat(),
        pressure="deep",
        acute_flare=True,
        pain_before=9,
        pain_after=8,
    )
    written = client.post("/v1/sessions", json=flare, headers=make.headers(flared))
    assert written.status_code == 201
    raised = {a["rule"]: a for a in written.get_json()["alerts"]}
    assert {"severe_pain", "deep_pressure_in_flare"} <= set(raised)
    accepted = _acknowledge(client, t_headers, raised["severe_pain"]["id"], "accepted")
    overridden = _acknowledge(
        client, t_headers, raised["deep_pressure_in_flare"]["id"], "overridden"
    )
    # A typo corrected: the pain that raised severe_pain is edited away.
    checkin = client.post(
        "/v1/checkins",
        json=checkin_body(recorded_at=utcnow().isoformat(), pain=9),
        headers=make.headers(corrected),
    ).get_json()
    assert [a["rule"] for a in checkin["alerts"]] == ["severe_pain"]
    edited = client.patch(
        f"/v1/checkins/{checkin['id']}", json={"pain": 4}, headers=make.headers(corrected)
    ).get_json()
    assert [a["resolution"] for a in edited["alerts"]] == ["data_corrected"]

    body = client.get(URL, headers=t_headers).get_json()
    db.expire_all()
    stored = list(db.scalars(select(Alert).where(Alert.patient_id.in_([flared.id, corrected.id]))))
    rows, totals = _expected(stored)
    assert body["rows"] == rows and body["totals"] == totals
    by_rule = {(r["rule"], r["severity"]): r for r in body["rows"]}
    severe = by_rule["severe_pain", "caution"]
    assert (severe["raised"], severe["acknowledged"], severe["accepted"]) == (2, 1, 1)
    assert (severe["override_rate"], severe["data_corrected_share"]) == (0, 0.5)
    assert severe["median_seconds_to_acknowledge"] == round(_seconds(accepted), 3)
    deep = by_rule["deep_pressure_in_flare", "caution"]
    assert (deep["overridden"], deep["override_rate"]) == (1, 1.0)
    assert deep["median_seconds_to_acknowledge"] == round(_seconds(overridden), 3)


def test_reading_the_report_is_audited_once_per_patient_it_spans(client, make, db, linked):
    therapist, (patient, other) = linked
    headers = make.headers(therapist)
    reads = [client.get(PERIOD, headers=headers)]  # nothing raised: no one's data read
    _alert(db, patient, "severe_pain", "caution", FROM + timedelta(days=1))
    reads.append(client.get(PERIOD, headers=headers))
    _alert(db, other, "worsening_trend", "warning", FROM + timedelta(days=2))
    reads.append(client.get(PERIOD, headers=headers))
    assert [r.status_code for r in reads] == [200, 200, 200]
    _, one, both = (r.headers["X-Request-ID"] for r in reads)
    db.expire_all()
    events = db.scalars(select(AuditEvent).where(AuditEvent.actor_id == therapist.id)).all()
    # The patients' rows went into the figures, not out as rows: no row count.
    assert sorted((e.request_id, str(e.patient_id), e.row_count) for e in events) == sorted(
        [(one, str(patient.id), None), (both, str(patient.id), None), (both, str(other.id), None)]
    )
    assert {(e.action, e.resource_type) for e in events} == {
        ("alert_quality.list", "alert_quality")
    }


def test_statement_count_does_not_grow_with_alerts(client, make, db, connection, linked):
    therapist, patients = linked
    headers = make.headers(therapist)
    counts = []
    for size in (2, 20):
        for day in range(size):
            _alert(
                db,
                patients[day % 2],
                "severe_pain",
                "caution",
                FROM + timedelta(days=day % 28, hours=size),
                waited=60 * (day + 1),
                outcome="accepted",
                resolution="clinician",
            )
        with count_statements(connection) as statements:
            assert client.get(PERIOD, headers=headers).status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_an_override_that_escalated_stays_counted_at_the_severity_it_was_given(
    client, make, db, linked
):
    """A re-check overridden as a caution (a one-grade wobble), then sustained to a warning:
    the reopening clears the alert's acknowledgement, but the report still counts the
    override, as one of a caution that later escalated; the warning's own acknowledgement
    waited from the reopening, not from the first sighting."""
    therapist, (patient, _) = linked
    headers, clinician = make.headers(patient), make.headers(therapist)
    _, raised = _usual_then_raised(client, headers)
    [caution] = raised["alerts"]
    _acknowledge(client, clinician, caution["id"], "overridden")
    # The caution waited three hours in the inbox before that override (set back by hand).
    alert_id, hours = uuid.UUID(caution["id"]), timedelta(hours=3)
    stored = db.get(Alert, alert_id)
    [given] = db.scalars(
        select(AlertAcknowledgement).where(AlertAcknowledgement.alert_id == alert_id)
    )
    stored.first_seen_at -= hours
    given.opened_at -= hours
    db.flush()
    felt = NEURO_START + timedelta(days=5)
    _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    [warning] = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)["alerts"]
    assert (warning["severity"], warning["status"]) == ("warning", "open")

    rows = {
        (r["rule"], r["severity"]): r for r in client.get(URL, headers=clinician).get_json()["rows"]
    }
    overridden = rows["neuro_recheck", "caution"]
    assert (overridden["raised"], overridden["acknowledged"], overridden["overridden"]) == (0, 1, 1)
    assert overridden["overridden_then_escalated"] == 1 and overridden["override_rate"] == 1.0
    assert overridden["median_seconds_to_acknowledge"] >= hours.total_seconds()
    reopened = rows["neuro_recheck", "warning"]
    assert (reopened["raised"], reopened["acknowledged"], reopened["override_rate"]) == (1, 0, None)

    accepted = _acknowledge(client, clinician, caution["id"], "accepted")
    body = client.get(URL, headers=clinician).get_json()
    rows = {(r["rule"], r["severity"]): r for r in body["rows"]}
    reopened = rows["neuro_recheck", "warning"]
    assert (reopened["acknowledged"], reopened["accepted"], reopened["overridden"]) == (1, 1, 0)
    db.expire_all()
    first, second = db.scalars(
        select(AlertAcknowledgement)
        .where(AlertAcknowledgement.alert_id == alert_id)
        .order_by(AlertAcknowledgement.acknowledged_at)
    )
    assert (first.severity, first.outcome, second.severity, second.outcome) == (
        "caution",
        "overridden",
        "warning",
        "accepted",
    )
    assert second.opened_at == first.reopened_at and second.reopened_at is None
    waited = datetime.fromisoformat(accepted["acknowledged_at"]) - first.reopened_at
    assert reopened["median_seconds_to_acknowledge"] == round(waited.total_seconds(), 3)
    assert reopened["median_seconds_to_acknowledge"] < 60  # not the hours since first seen
    totals = body["totals"]
    assert (totals["raised"], totals["acknowledged"], totals["overridden_then_escalated"]) == (
        1,
        2,
        1,
    )


def test_an_escalation_corrected_away_gives_back_the_override_it_undid(client, make, db, linked):
    """The report that sustained the re-check to a warning is deleted (a mistake): the alert
    is a caution again, so it is acknowledged as the clinician left it, and their override
    no longer counts as one that escalated."""
    therapist, (patient, _) = linked
    headers, clinician = make.headers(patient), make.headers(therapist)
    _, raised = _usual_then_raised(client, headers)
    [caution] = raised["alerts"]
    _acknowledge(client, clinician, caution["id"], "overridden")
    felt = NEURO_START + timedelta(days=5)
    _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    sustaining = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)
    [warning] = sustaining["alerts"]
    assert (warning["severity"], warning["status"]) == ("warning", "open")
    deleted = client.delete(f"/v1/checkins/{sustaining['id']}", headers=headers)
    assert deleted.status_code == 204
    alert = client.get(f"/v1/alerts/{caution['id']}", headers=clinician).get_json()
    assert (alert["severity"], alert["status"]) == ("caution", "acknowledged")
    assert alert["acknowledgement_outcome"] == "overridden"
    rows = {
        (r["rule"], r["severity"]): r for r in client.get(URL, headers=clinician).get_json()["rows"]
    }
    row = rows["neuro_recheck", "caution"]
    assert (row["raised"], row["overridden"], row["overridden_then_escalated"]) == (1, 1, 0)
    assert ("neuro_recheck", "warning") not in rows
    db.expire_all()
    [kept] = db.scalars(
        select(AlertAcknowledgement).where(
            AlertAcknowledgement.alert_id == uuid.UUID(caution["id"])
        )
    )
    assert kept.reopened_at is None and kept.outcome == "overridden"
