"""Idempotency-Key: replays, mismatches, scoping per user, expiry, failures not stored."""

import hmac
import json
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from models import Alert, AuditEvent, CheckIn, IdempotencyRecord, MassageSession, User, utcnow
from tests.conftest import checkin_body, session_body


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_retry_with_same_key_and_body_replays_first_response(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-1"})
    first = client.post("/v1/sessions", json=session_body(), headers=headers)
    second = client.post("/v1/sessions", json=session_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert _count(db, MassageSession) == 1


def test_same_key_with_another_body_is_422_and_saves_nothing(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-2"})
    client.post("/v1/checkins", json=checkin_body(pain=3), headers=headers)
    resp = client.post("/v1/checkins", json=checkin_body(pain=4), headers=headers)
    assert resp.status_code == 422
    assert "Idempotency-Key" in resp.get_json()["errors"]
    assert _count(db, CheckIn) == 1


def test_a_retry_encoded_again_with_other_spacing_and_order_is_the_same_request(client, make, db):
    patient = make.user("patient")
    headers = {
        **make.headers(patient, **{"Idempotency-Key": "k-encoded"}),
        "Content-Type": "application/json",
    }
    body = session_body(symptoms={"numbness": 1, "side": "left"})
    compact = json.dumps(body, separators=(",", ":"))
    spaced = json.dumps(dict(reversed(body.items())), indent=2)
    first = client.post("/v1/sessions", data=compact, headers=headers)
    again = client.post("/v1/sessions", data=spaced, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(db, MassageSession) == 1
    changed = json.dumps({**body, "pain_before": body["pain_before"] + 1}, indent=2)
    assert client.post("/v1/sessions", data=changed, headers=headers).status_code == 422


def test_keys_are_scoped_per_user(client, make, db):
    one, two = make.user("patient"), make.user("patient")
    for user in (one, two):
        resp = client.post(
            "/v1/checkins",
            json=checkin_body(),
            headers=make.headers(user, **{"Idempotency-Key": "shared"}),
        )
        assert resp.status_code == 201 and resp.get_json()["patient_id"] == str(user.id)
    assert _count(db, CheckIn) == 2


def test_failed_request_is_not_stored_so_a_corrected_retry_works(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-3"})
    bad = client.post("/v1/sessions", json=session_body(pain_before=42), headers=headers)
    assert bad.status_code == 422
    good = client.post("/v1/sessions", json=session_body(), headers=headers)
    assert good.status_code == 201
    assert _count(db, MassageSession) == 1


def test_expired_record_is_not_replayed(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-4"})
    client.post("/v1/checkins", json=checkin_body(), headers=headers)
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k-4"))
    assert record.expires_at - record.created_at >= timedelta(hours=24)
    record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.flush()
    again = client.post("/v1/checkins", json=checkin_body(), headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _count(db, CheckIn) == 2


class WorkerKilled(Exception):
    """The process dies: nothing after this point runs, nothing uncommitted survives."""


@pytest.fixture
def crash_when_storing_the_response():
    """Kill the request once, at the commit that stores an idempotent response.

    A fault at the edge (the process dying), not a fake database: the commit never
    happens, exactly as when a worker is killed at that instant.
    """
    crashed = []

    def before_commit(session):
        stored = select(IdempotencyRecord.id).where(IdempotencyRecord.response_status.is_not(None))
        storing = session.execute(stored.limit(1)).first() is not None
        if storing and not crashed:
            crashed.append(True)
            raise WorkerKilled

    event.listen(Session, "before_commit", before_commit)
    yield crashed
    event.remove(Session, "before_commit", before_commit)


def test_a_crash_before_the_response_is_stored_leaves_nothing_and_the_retry_runs_once(
    app, client, make, db, crash_when_storing_the_response
):
    """The key, the write, its alerts and the stored response commit together or not at all.

    No client id in the body, so only the key can tell a retry from a new session.
    """
    app.config["PROPAGATE_EXCEPTIONS"] = False
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-crash"})
    body = session_body(pain_before=3, pain_after=9)  # raises an alert too
    crashed = client.post("/v1/sessions", json=body, headers=headers)
    assert crash_when_storing_the_response == [True]
    assert crashed.status_code == 500
    assert _count(db, MassageSession) == 0
    assert _count(db, IdempotencyRecord) == 0
    assert _count(db, Alert) == 0
    retried = client.post("/v1/sessions", json=body, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    again = client.post("/v1/sessions", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == retried.get_json()["id"]
    assert _count(db, MassageSession) == 1
    assert _count(db, Alert) == len(retried.get_json()["alerts"]) >= 1
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k-crash"))
    assert record.response_status == 201


def test_pending_key_answers_409_until_abandoned(app, client, make, db):
    patient = make.user("patient")
    pending = IdempotencyRecord(
        owner=f"user:{patient.id}",
        key="k-5",
        request_hash="x" * 64,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    db.add(pending)
    db.flush()
    body = checkin_body()
    headers = make.headers(patient, **{"Idempotency-Key": "k-5"})
    # A different hash would be 422; make it match the in-flight request (its body as JSON
    # means it: keys sorted, no spaces).
    raw = json.dumps(body).encode()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    key = app.config["SECRET_KEY"].encode()
    pending.request_hash = hmac.new(key, b"POST /v1/checkins\n" + canonical, sha256).hexdigest()
    db.flush()
    resp = client.post("/v1/checkins", data=raw, content_type="application/json", headers=headers)
    assert resp.status_code == 409
    pending.created_at = datetime.now(UTC) - timedelta(minutes=5)
    db.flush()
    resp = client.post("/v1/checkins", data=raw, content_type="application/json", headers=headers)
    assert resp.status_code == 201


def test_a_key_stored_with_the_hash_of_the_bytes_still_replays(app, client, make, db):
    """Records stored before bodies were compared as JSON: the same bytes still match."""
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-bytes"})
    raw = json.dumps(checkin_body(), indent=1).encode()
    first = client.post("/v1/checkins", data=raw, content_type="application/json", headers=headers)
    assert first.status_code == 201
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k-bytes"))
    key = app.config["SECRET_KEY"].encode()
    record.request_hash = hmac.new(key, b"POST /v1/checkins\n" + raw, sha256).hexdigest()
    db.flush()
    again = client.post("/v1/checkins", data=raw, content_type="application/json", headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_register_accepts_idempotency_key(client, db):
    body = {"email": "idem@example.org", "password": "long enough pass", "display_name": "I"}
    headers = {"Idempotency-Key": "reg-1"}
    first = client.post("/v1/auth/register", json=body, headers=headers)
    second = client.post("/v1/auth/register", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert _count(db, User) == 1


def test_two_people_signing_up_with_the_same_key_do_not_meet(client, db):
    """No one is signed in: a key is scoped to its body, so a second person who chose the
    same key signs up (a 422 told them of someone else's request), and a retry replays."""
    headers = {"Idempotency-Key": "signup-1"}
    first = {"email": "a@example.org", "password": "long enough pass", "display_name": "A"}
    second = {"email": "b@example.org", "password": "other long pass", "display_name": "B"}
    one = client.post("/v1/auth/register", json=first, headers=headers)
    two = client.post("/v1/auth/register", json=second, headers=headers)
    assert one.status_code == two.status_code == 201
    assert "Idempotent-Replayed" not in two.headers and two.get_json()["id"] != one.get_json()["id"]
    retry = client.post("/v1/auth/register", json=second, headers=headers)
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.get_json() == two.get_json()
    emails = set(db.scalars(select(User.email)))
    assert emails == {"a@example.org", "b@example.org"}


def test_expired_responses_are_purged_with_what_they_held(app, client, make, db):
    """A stored response holds what it answered (a check-in's notes): once expired, the
    purge deletes it, audited; a dry run counts and changes nothing; live ones stay."""
    patient = make.user("patient")
    old = make.headers(patient, **{"Idempotency-Key": "old"})
    body = checkin_body(notes="private: a hard week")
    written = client.post("/v1/checkins", json=body, headers=old)
    assert written.status_code == 201
    assert client.delete(f"/v1/checkins/{written.get_json()['id']}", headers=old).status_code == 204
    db.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    fresh = make.headers(patient, **{"Idempotency-Key": "fresh"})
    assert client.post("/v1/checkins", json=checkin_body(), headers=fresh).status_code == 201
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge-idempotency", "--dry-run"])
    assert dry.exit_code == 0 and dry.output == "would remove 1 expired idempotency records\n"
    assert _count(db, IdempotencyRecord) == 2
    real = runner.invoke(args=["purge-idempotency"])
    assert real.exit_code == 0 and real.output == "removed 1 expired idempotency records\n"
    db.expire_all()
    assert list(db.scalars(select(IdempotencyRecord.key))) == ["fresh"]
    stored = " ".join(r or "" for r in db.scalars(select(IdempotencyRecord.response_body)))
    assert "a hard week" not in stored
    purges = db.scalars(
        select(AuditEvent.row_count).where(AuditEvent.action == "idempotency.purge")
    )
    assert list(purges) == [1]


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "retry\x00key", "tab\tkey", "caf\u00e9"],
    ids=["overlong", "nul", "control", "not-ascii"],
)
def test_a_key_a_header_cannot_carry_everywhere_is_a_422_problem_and_saves_nothing(
    client, make, db, key
):
    """PostgreSQL text holds no NUL (a 500 there before), and gunicorn refuses control
    characters: a key only a test client or another server passes is refused everywhere."""
    patient = make.user("patient")
    resp = client.post(
        "/v1/checkins",
        json=checkin_body(),
        headers=make.headers(patient, **{"Idempotency-Key": key}),
    )
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert "Idempotency-Key" in resp.get_json()["errors"]
    assert db.scalar(select(func.count()).select_from(CheckIn)) == 0
    assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_a_key_of_any_printable_ascii_is_taken(client, make, db):
    patient = make.user("patient")
    key = "".join(chr(c) for c in range(0x20, 0x7F))
    headers = make.headers(patient, **{"Idempotency-Key": key})
    first = client.post("/v1/checkins", json=checkin_body(), headers=headers)
    again = client.post("/v1/checkins", json=checkin_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]


def test_stored_request_hash_is_keyed_so_a_password_cannot_be_cracked_from_it(client, db):
    body = {"email": "keyed@example.org", "password": "long enough pass", "display_name": "K"}
    raw = json.dumps(body).encode()
    client.post(
        "/v1/auth/register",
        data=raw,
        content_type="application/json",
        headers={"Idempotency-Key": "reg-keyed"},
    )
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "reg-keyed"))
    assert record.request_hash != sha256(b"POST /v1/auth/register\n" + raw).hexdigest()
    assert "long enough pass" not in (record.response_body or "")


def test_a_replay_needs_the_access_the_write_had_and_is_audited_as_a_read(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    headers = make.headers(therapist, **{"Idempotency-Key": "visit-1"})
    body = session_body(patient_id=str(patient.id), symptoms={"bladder_bowel_change": True})
    first = client.post("/v1/sessions", json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["alerts"]
    replay = client.post("/v1/sessions", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    reads = db.scalars(select(AuditEvent).where(AuditEvent.action == "session.read")).all()
    assert [(e.actor_id, e.patient_id, e.resource_id) for e in reads] == [
        (therapist.id, patient.id, first.get_json()["id"])
    ]
    # The patient ends the link: the old key no longer hands out their data and alerts.
    link.status = "ended"
    db.flush()
    after = client.post("/v1/sessions", json=body, headers=headers)
    assert after.status_code == 404 and "Idempotent-Replayed" not in after.headers
    assert first.get_json()["id"] not in after.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(MassageSession)) == 1


def test_the_patients_own_replay_is_not_audited(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "own-1"})
    for _ in range(2):
        assert client.post("/v1/checkins", json=checkin_body(), headers=headers).status_code == 201
    assert (
        db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("%.read"))
        )
        == 0
    )


def test_a_key_reused_after_it_expired_gets_the_writes_own_conflict(client, make, db):
    """A day later the same key comes with another body that clashes with the first
    check-in's id: the expired record is no request in flight, so the answer is the clash
    (409), not a reused key (422)."""
    patient = make.user("patient")
    headers = make.headers(patient, **{"Idempotency-Key": "k-old"})
    first = client.post("/v1/checkins", json=checkin_body(pain=3), headers=headers)
    assert first.status_code == 201
    record = db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k-old"))
    record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.flush()
    body = checkin_body(pain=7) | {"id": first.get_json()["id"]}
    again = client.post("/v1/checkins", json=body, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["errors"] == {"id": ["Already used."]}
