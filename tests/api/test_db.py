"""A write request's unit of work on a SQLite file (api.db): the reads it makes before its
write share one read transaction, which ends before the write begins, and no write runs in
it. On PostgreSQL there are no reads apart (read_apart yields None), so the first two run
on a SQLite file of their own whatever the suite's database, and the last, in the suite's
own savepoints, on SQLite only."""

import fcntl
import sqlite3
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select, update

from api.auth import issue_access_token
from api.db import get_session, read_apart, request_session, session_scope
from api.services import reports
from models import AuditEvent, CareLink, MassageSession, User
from tests.conftest import session_body, sqlite_file_app, unsaved_patient


@pytest.fixture
def file_app(monkeypatch, tmp_path):
    """The app on a SQLite file of its own, committing for real: another connection's commit
    lands between the app's statements as another worker's would."""
    path = f"{tmp_path}/unit-of-work.sqlite3"
    yield from sqlite_file_app(monkeypatch, path, RATELIMIT_ENABLED=False)


def _patient(app) -> tuple[User, dict]:
    with session_scope(app) as db_session:
        patient = unsaved_patient()
        db_session.add(patient)
    with app.app_context():
        token, _ = issue_access_token(patient, family_id=None)
    return patient, {"Authorization": f"Bearer {token}"}


def _renamed(app, email: str) -> None:
    """Another worker's write, committed on a connection of its own."""
    with sqlite3.connect(app.config["DATABASE_PATH"], timeout=5) as other:
        other.execute("UPDATE users SET display_name = 'Renamed' WHERE email = ?", (email,))
    other.close()


def test_a_write_begins_afresh_after_another_writer_committed_during_its_reads(
    file_app, monkeypatch
):
    """Another worker commits while a write request is still reading (its sign-in, its
    stored response, its analysis): the write is still stored. It takes the writer's lock in
    a transaction of its own; written in the read transaction, it would fail on SQLite
    (that snapshot is no longer the latest) or be refused (api.db)."""
    patient, headers = _patient(file_app)
    other, _ = _patient(file_app)
    prepare = reports.prepare

    def prepared_while_another_writes(**kwargs):
        prepared = prepare(**kwargs)
        _renamed(file_app, other.email)
        return prepared

    monkeypatch.setattr(reports, "prepare", prepared_while_another_writes)
    created = file_app.test_client().post(
        "/v1/sessions", json=session_body(), headers=headers | {"Idempotency-Key": "k-1"}
    )
    assert created.status_code == 201, created.get_json()
    with session_scope(file_app) as db_session:
        stored = db_session.scalar(
            select(func.count()).where(MassageSession.patient_id == patient.id)
        )
        assert stored == 1
        assert db_session.get(User, other.id).display_name == "Renamed"


def test_a_write_in_the_reads_apart_is_refused_until_the_write_asks_for_the_session(file_app):
    patient, _ = _patient(file_app)
    renamed = update(User).where(User.id == patient.id).values(display_name="Renamed")
    with file_app.test_request_context("/v1/sessions", method="POST"):
        with read_apart() as db_session:
            assert db_session.get(User, patient.id).display_name == "Patient"
        # Still the read transaction: the session as it is, not as a write asks for it.
        with pytest.raises(RuntimeError, match="reads apart"):
            request_session().execute(renamed)
        # The same transaction, still reading.
        with pytest.raises(RuntimeError, match="reads apart"), read_apart() as db_session:
            db_session.execute(renamed)
        get_session().execute(renamed)  # the reads apart end: the write's own transaction
        get_session().commit()
    with session_scope(file_app) as db_session:
        assert db_session.get(User, patient.id).display_name == "Renamed"


def test_the_suites_savepoints_refuse_a_write_in_the_reads_apart_too(app, db, make):
    """The suite runs the app's transactions as savepoints of its own (tests/conftest.py):
    the guard holds there as well, so a view that wrote in its reads apart fails the suite."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only: on PostgreSQL there are no reads apart (read_apart)")
    patient = make.user("patient")
    renamed = update(User).where(User.id == patient.id).values(display_name="Renamed")
    with app.test_request_context("/v1/sessions", method="POST"):
        with read_apart() as db_session:
            db_session.get(User, patient.id)
        with pytest.raises(RuntimeError, match="reads apart"):
            request_session().execute(renamed)
        get_session().execute(renamed)
        get_session().commit()
    assert db.scalar(select(User.display_name).where(User.id == patient.id)) == "Renamed"


def _linked_therapist(app, patient) -> tuple[User, dict]:
    with session_scope(app) as db_session:
        therapist = unsaved_patient("Therapist")
        therapist.role = "therapist"
        db_session.add(therapist)
        db_session.flush()
        db_session.add(CareLink(patient_id=patient.id, therapist_id=therapist.id, status="active"))
    with app.app_context():
        token, _ = issue_access_token(therapist, family_id=None)
    return therapist, {"Authorization": f"Bearer {token}"}


def test_the_audit_of_a_read_queues_with_the_writers(file_app):
    """The audit row a therapist's read writes after the read joins the writers' queue (and
    takes the lock up front) like any write: polling SQLite's busy timeout instead, behind
    a phone flushing its queue, it waited seconds or failed with "database is locked"."""
    patient, as_patient = _patient(file_app)
    therapist, as_therapist = _linked_therapist(file_app, patient)
    client = file_app.test_client()
    created = client.post("/v1/sessions", json=session_body(), headers=as_patient).get_json()
    read_done = threading.Event()

    def after(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("SELECT") and "FROM sessions" in statement:
            read_done.set()

    event.listen(file_app.extensions["db_engine"], "after_cursor_execute", after)
    answers = []
    read = threading.Thread(
        target=lambda: answers.append(
            client.get(f"/v1/sessions/{created['id']}", headers=as_therapist)
        )
    )
    with open(file_app.config["DATABASE_PATH"] + "-writers.lock", "a+b") as queue:
        fcntl.flock(queue, fcntl.LOCK_EX)  # another writer's turn
        read.start()
        assert read_done.wait(10)  # the read is done; its audit waits for its turn
        read.join(0.5)
        assert answers == []
        fcntl.flock(queue, fcntl.LOCK_UN)
    read.join(10)
    assert [a.status_code for a in answers] == [200]
    with session_scope(file_app) as db_session:
        audited = db_session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == therapist.id)
        ).all()
    assert audited == ["session.read"]


def test_an_exports_reads_after_its_audit_do_not_queue_with_the_writers(file_app):
    """A streamed export's audit row is written before its body; the rows it then reads
    are reads: they never wait for (nor hold back) a writer. Here another writer takes its
    turn the moment the audit is committed, and keeps it 3 s."""
    patient, as_patient = _patient(file_app)
    _, as_therapist = _linked_therapist(file_app, patient)
    client = file_app.test_client()
    assert client.post("/v1/sessions", json=session_body(), headers=as_patient).status_code == 201
    engine = file_app.extensions["db_engine"]
    queue = open(file_app.config["DATABASE_PATH"] + "-writers.lock", "a+b")  # noqa: SIM115
    audited = threading.Event()

    def after(_conn, _cursor, statement, *_args):
        if statement.lstrip().startswith("INSERT INTO audit_events"):
            audited.set()

    def writers_turn(_conn):  # the audit's commit: the queue was just given back
        if audited.is_set() and not writers_turn.taken:
            writers_turn.taken = True
            fcntl.flock(queue, fcntl.LOCK_EX)
            threading.Timer(3, fcntl.flock, (queue, fcntl.LOCK_UN)).start()

    writers_turn.taken = False
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "commit", writers_turn)
    began = time.monotonic()
    resp = client.get("/v1/exports/sessions.csv", headers=as_therapist)
    took = time.monotonic() - began
    assert writers_turn.taken and resp.status_code == 200
    assert resp.get_data().count(b"\n") == 2  # the header and the session
    assert took < 2  # not the writer's 3 s
    time.sleep(max(0.0, 3.2 - took))
    queue.close()


def test_the_writers_lock_is_measured_for_operators(file_app):
    """/metrics shows how long writes waited for SQLite's writer lock and held it: held most
    of the time, it is the limit of writes on this database."""
    file_app.config["METRICS_TOKEN"] = token = "metrics-" + "t" * 24
    _, headers = _patient(file_app)
    client = file_app.test_client()

    def scraped() -> dict:
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True))
            for sample in family.samples
            if sample.name.startswith("sqlite_writer_")
        }

    before = scraped()
    for _ in range(3):
        assert client.post("/v1/sessions", json=session_body(), headers=headers).status_code == 201
    after = scraped()
    for name in ("sqlite_writer_held_seconds", "sqlite_writer_wait_seconds"):
        # Each write takes its turn once (a read's audit, if any, once more).
        assert after[f"{name}_count"] - before.get(f"{name}_count", 0) >= 3
    assert after["sqlite_writer_held_seconds_sum"] > before.get("sqlite_writer_held_seconds_sum", 0)
