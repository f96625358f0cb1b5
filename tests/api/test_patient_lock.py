"""Writes that meet on one patient, for real, on PostgreSQL: each takes the patient's lock
(api.services.alerts.lock_patient) and then sees what a write committed while it waited.

On PostgreSQL transactions interleave; an outside connection holding one row lock fixes the
order in which the requests reach the database. SQLite runs one writer at a time (BEGIN
IMMEDIATE), so nothing interleaves there.
"""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from api import create_app
from api.auth import issue_access_token
from models import Alert, AuditEvent, Base, CareLink, IdempotencyRecord, MassageSession, User
from tests.conftest import session_body, unsaved_patient

RED_FLAG = {"bladder_bowel_change": True}
FELT = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def live(monkeypatch, database_url, engine):
    """The app committing for real on the test database, and the users it made (removed
    after, with every row of theirs)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's writer lock runs one write at a time")
    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"RATELIMIT_ENABLED": False})
    made: list[uuid.UUID] = []
    yield app, made
    app.extensions["db_engine"].dispose()
    with Session(engine) as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            if "patient_id" in table.c:
                session.execute(delete(table).where(table.c.patient_id.in_(made)))
        session.execute(delete(AuditEvent).where(AuditEvent.actor_id.in_(made)))
        owners = [f"user:{user_id}" for user_id in made]
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.owner.in_(owners)))
        session.execute(delete(User).where(User.id.in_(made)))


def _people(app, engine, made) -> tuple[User, dict, dict]:
    """A patient linked to a therapist, committed: the patient and both callers' headers."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        patient, therapist = unsaved_patient("Locked"), unsaved_patient("Therapist")
        therapist.role = "therapist"
        session.add_all([patient, therapist])
        session.flush()
        session.add(CareLink(patient_id=patient.id, therapist_id=therapist.id, status="active"))
    made.extend([patient.id, therapist.id])
    with app.app_context():
        tokens = [issue_access_token(user, family_id=None)[0] for user in (patient, therapist)]
    patient_headers, therapist_headers = ({"Authorization": f"Bearer {t}"} for t in tokens)
    return patient, patient_headers, therapist_headers


def _red_flags(response) -> list[dict]:
    return [a for a in response.get_json()["alerts"] if a["rule"] == "red_flag_bladder_bowel"]


def _waiting(engine, count: int) -> None:
    """Until `count` of this database's connections wait for a lock."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        if waiting >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{count} requests never waited for a lock")


def _in_turn(engine, lock_sql: str, params: dict, *requests) -> list:
    """Run `requests` (callables) in threads, in the given order, each reaching the lock an
    outside transaction holds (`lock_sql`) before the next starts; then release it. Their
    responses, in the same order."""
    answers: list = [None] * len(requests)
    threads = []
    with engine.connect() as outside:
        outside.begin()
        outside.execute(text(lock_sql), params)
        for index, request in enumerate(requests):

            def run(index=index, request=request):
                answers[index] = request()

            thread = threading.Thread(target=run)
            thread.start()
            threads.append(thread)
            _waiting(engine, index + 1)
        outside.rollback()
    for thread in threads:
        thread.join(30)
    return answers


def _while_resolving(app, engine, alert: dict, as_therapist: dict, then) -> list:
    """A therapist resolves `alert`: the resolve holds the patient's lock and waits for the
    alert's row (held outside); `then` comes while it waits. Both answers, in that order."""
    return _in_turn(
        engine,
        "SELECT id FROM alerts WHERE id = :id FOR UPDATE",
        {"id": uuid.UUID(alert["id"])},
        lambda: app.test_client().post(
            f"/v1/alerts/{alert['id']}/resolve", json={"note": "Seen by GP."}, headers=as_therapist
        ),
        then,
    )


def test_a_red_flag_written_while_its_alert_is_resolved_opens_a_new_alert(live, engine):
    app, made = live
    patient, as_patient, as_therapist = _people(app, engine, made)
    client = app.test_client()
    first = client.post(
        "/v1/sessions",
        json=session_body(started_at=FELT.isoformat(), symptoms=RED_FLAG),
        headers=as_patient,
    )
    [alert] = _red_flags(first)
    later = FELT + timedelta(days=1)

    # The red-flag write comes while the resolve waits.
    resolved, written = _while_resolving(
        app,
        engine,
        alert,
        as_therapist,
        lambda: app.test_client().post(
            "/v1/sessions",
            json=session_body(started_at=later.isoformat(), symptoms=RED_FLAG),
            headers=as_patient,
        ),
    )
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    assert written.status_code == 201
    [raised] = _red_flags(written)
    with Session(engine) as session:
        stored = {
            a.id: (a.status, a.occurrences, a.evidence["report_ids"])
            for a in session.scalars(
                select(Alert).where(Alert.patient_id == patient.id, Alert.rule == alert["rule"])
            )
        }
    # The resolved alert kept its one firing; the new red flag has an open alert of its own.
    assert stored == {
        uuid.UUID(alert["id"]): ("resolved", 1, [first.get_json()["id"]]),
        uuid.UUID(raised["id"]): ("open", 1, [written.get_json()["id"]]),
    }


def test_an_acknowledgement_that_waited_for_a_resolve_finds_the_alert_resolved(live, engine):
    app, made = live
    patient, as_patient, as_therapist = _people(app, engine, made)
    first = app.test_client().post(
        "/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=as_patient
    )
    [alert] = _red_flags(first)
    resolved, acknowledged = _while_resolving(
        app,
        engine,
        alert,
        as_therapist,
        lambda: app.test_client().post(
            f"/v1/alerts/{alert['id']}/acknowledge",
            json={"outcome": "accepted", "reason": "Referred."},
            headers=as_therapist,
        ),
    )
    assert resolved.status_code == 200
    assert acknowledged.status_code == 409
    assert "resolved" in acknowledged.get_json()["detail"]
    with Session(engine) as session:
        stored = session.get(Alert, uuid.UUID(alert["id"]))
        assert (stored.status, stored.acknowledged_at) == ("resolved", None)


def test_edits_without_if_match_that_waited_for_each_other_both_apply(live, engine):
    """Without If-Match the last write wins: an edit that waited for another is applied to
    the version that one left, not refused as stale."""
    app, made = live
    patient, as_patient, _ = _people(app, engine, made)
    created = app.test_client().post("/v1/sessions", json=session_body(), headers=as_patient)
    path = f"/v1/sessions/{created.get_json()['id']}"
    answers = _in_turn(
        engine,
        "SELECT id FROM users WHERE id = :id FOR NO KEY UPDATE",
        {"id": patient.id},
        lambda: app.test_client().patch(path, json={"pain_before": 2}, headers=as_patient),
        lambda: app.test_client().patch(path, json={"notes": "Sore calf."}, headers=as_patient),
    )
    assert [a.status_code for a in answers] == [200, 200]
    with Session(engine) as session:
        stored = session.get(MassageSession, uuid.UUID(created.get_json()["id"]))
        assert (stored.pain_before, stored.notes) == (2, "Sore calf.")


def test_an_edit_that_waited_for_a_deletion_finds_nothing(live, engine):
    app, made = live
    patient, as_patient, _ = _people(app, engine, made)
    created = app.test_client().post("/v1/sessions", json=session_body(), headers=as_patient)
    path = f"/v1/sessions/{created.get_json()['id']}"
    # The deletion takes the patient's lock first and waits for the session's row.
    deleted, edited = _in_turn(
        engine,
        "SELECT id FROM sessions WHERE id = :id FOR UPDATE",
        {"id": uuid.UUID(created.get_json()["id"])},
        lambda: app.test_client().delete(path, headers=as_patient),
        lambda: app.test_client().patch(path, json={"pain_before": 2}, headers=as_patient),
    )
    assert (deleted.status_code, edited.status_code) == (204, 404)
    with Session(engine) as session:
        stored = session.get(MassageSession, uuid.UUID(created.get_json()["id"]))
        assert stored.deleted_at is not None and stored.pain_before != 2


@pytest.mark.parametrize(("second_pain", "answered"), [(3, [201, 201]), (4, [201, 422])])
def test_one_key_sent_again_while_the_first_is_in_flight_answers_as_a_retry(
    live, engine, second_pain, answered
):
    """A request sent again with its Idempotency-Key and client id while the first still
    waits for the patient's lock: it waits too, then replays the first answer (same body) or
    answers as the key reused with another body (422), never as a clash of ids (409)."""
    app, made = live
    patient, as_patient, _ = _people(app, engine, made)
    report_id = str(uuid.uuid4())
    keyed = as_patient | {"Idempotency-Key": f"flush-{report_id}"}

    def send(pain: int):
        body = session_body(id=report_id, pain_before=pain)
        return lambda: app.test_client().post("/v1/sessions", json=body, headers=keyed)

    answers = _in_turn(
        engine,
        "SELECT id FROM users WHERE id = :id FOR NO KEY UPDATE",
        {"id": patient.id},
        send(3),
        send(second_pain),
    )
    assert sorted(a.status_code for a in answers) == answered
    later = [a for a in answers if a.headers.get("Idempotent-Replayed") or a.status_code == 422]
    assert len(later) == 1
    if second_pain == 3:
        assert later[0].get_json() == next(a for a in answers if a is not later[0]).get_json()
    else:
        assert "Idempotency-Key" in later[0].get_json()["errors"]
    with Session(engine) as session:
        stored = select(func.count()).where(MassageSession.patient_id == patient.id)
        assert session.scalar(stored) == 1
