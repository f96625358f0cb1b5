"""How many SQL statements a write and a read send: pinned, so that a change that adds one
fails here and has to say why.

Counted on a patient with history (sessions, check-ins, an open alert), so the write runs
the whole path: auth, Idempotency-Key, validation, the analysis window, alerts, audit, the
change sequence and the stored response.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_patient_reports import count_statements, transactions
from tests.api.test_webhooks import _subscribed
from tests.conftest import checkin_body, session_body

# Per dialect: PostgreSQL takes the patient's row lock (SQLite's writer lock serialises
# writes already) and loads their profile in the write; SQLite reads the state of the
# patient's history twice, with the profile in it (see below). PostgreSQL numbers the
# written rows at commit (models.changes), one statement per table (the session and the
# alert here), where SQLite's numbers ride on the inserts. Among them is the upsert of
# the patient's summary, which saves every list of patients from reading all their
# reports. This write raises an alert, which adds two: its event inserted unless already
# there (one statement), and its subscribers found (a write that changes no alert sends
# none of them).
WRITE = {"sqlite": 15, "postgresql": 17}
# On PostgreSQL the change counter's row lock, which every writer waits for, is taken by
# the write's last statements only: the counter's update and the numbers of its rows.
UNDER_COUNTER_LOCK = ("UPDATE change_counter", "UPDATE sessions", "UPDATE alerts")
# On SQLite the reads before the write share one transaction of their own (api.db.read_apart):
# the sign-in, the stored response looked up, and the analysis of the new report with the
# state of the patient's history it rests on, its window (sessions and check-ins in one
# read) and what planning its alert changes reads
# (the triggers of the keys found and the live ones in the span judged, in one read; the
# active alerts).
READ_APART = 6
# The writer's lock is then held for these only: the state read again (the analysis and
# those reads stand if it is unchanged), the summary, the change numbers, then one flush
# (the insert with its change number, the alert and its trigger), the event, the stored
# response.
UNDER_WRITER_LOCK = 9


def _at(days: float) -> str:
    return (datetime(2026, 10, 1, 9, tzinfo=UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
def history(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    for day in range(0, 30, 3):
        body = session_body(started_at=_at(day), pain_before=4, pain_after=7 if day % 2 else 3)
        assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201
        checkin = checkin_body(recorded_at=_at(day + 1.5), pain=4)
        assert client.post("/v1/checkins", json=checkin, headers=headers).status_code == 201
    return patient, headers


def test_a_session_write_sends_a_pinned_number_of_statements(client, connection, history):
    _, headers = history
    body = session_body(started_at=_at(31), pain_before=4, pain_after=7)
    with transactions(connection) as blocks:
        created = client.post(
            "/v1/sessions", json=body, headers=headers | {"Idempotency-Key": "count-1"}
        )
    assert created.status_code == 201 and created.get_json()["alerts"]
    statements = [statement for block in blocks for statement in block]
    assert len(statements) == WRITE[connection.dialect.name], "\n".join(statements)
    if connection.dialect.name == "sqlite":
        reads, write = [block for block in blocks if block]
        assert len(reads) == READ_APART and reads[0].startswith("SELECT users."), reads
        assert all(statement.startswith("SELECT") for statement in reads), reads
        assert len(write) == UNDER_WRITER_LOCK, "\n".join(write)
        assert write[-1].startswith("INSERT INTO idempotency_records")
        # The new session is inserted with its change number: no update of it follows.
        assert not [s for s in statements if s.startswith("UPDATE sessions")]
    else:
        last = statements[-len(UNDER_COUNTER_LOCK) :]
        assert last[0].startswith(UNDER_COUNTER_LOCK[0]), "\n".join(statements)
        assert sorted(s.split(" SET ")[0] for s in last[1:]) == sorted(UNDER_COUNTER_LOCK[1:])
        assert all("SET updated_at=" in s for s in last[1:])  # left as written
    with count_statements(connection) as statements:
        replayed = client.post(
            "/v1/sessions", json=body, headers=headers | {"Idempotency-Key": "count-1"}
        )
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert len(statements) == 2, "\n".join(statements)  # the user, the stored response


def test_on_postgresql_the_counter_lock_comes_after_every_other_statement(
    app, client, connection, make, history
):
    """A write whose alert goes to a webhook subscriber adds the delivery after its rows
    are written (alerts.announce): that row too is written before the change counter's row
    lock is taken, and only the numbers follow it."""
    if connection.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite's numbers ride on the inserts (models.changes)")
    patient, headers = history
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    _subscribed(client, make, "http://127.0.0.1:9/hook", ["alert.raised"], patient=patient)
    body = session_body(started_at=_at(31), symptoms={"bladder_bowel_change": True})
    with count_statements(connection) as statements:
        written = client.post("/v1/sessions", json=body, headers=headers)
    assert written.status_code == 201 and written.get_json()["alerts"]
    counter = next(i for i, s in enumerate(statements) if s.startswith("UPDATE change_counter"))
    assert any(s.startswith("INSERT INTO webhook_deliveries") for s in statements[:counter])
    after = [s.split(" SET ")[0] for s in statements[counter + 1 :]]
    assert after and set(after) <= {"UPDATE sessions", "UPDATE alerts"}, after


def test_reads_send_a_pinned_number_of_statements(client, connection, history):
    _, headers = history
    with transactions(connection) as blocks:
        page = client.get("/v1/sessions?limit=50", headers=headers)
    assert page.status_code == 200 and len(page.get_json()["items"]) == 10
    # The user and the page, in one transaction: a read has no writer's lock to spare.
    assert [len(block) for block in blocks if block] == [2], blocks
    item = page.get_json()["items"][0]
    with count_statements(connection) as statements:
        read = client.get(f"/v1/sessions/{item['id']}", headers=headers)
    assert read.status_code == 200 and read.get_json()["id"] == item["id"]
    assert len(statements) == 2, "\n".join(statements)  # the user, the session


def test_a_refused_request_does_not_load_the_user_again_for_its_log_line(
    client, connection, history
):
    # The refusal rolls the request back, which expires the signed-in user: the log line
    # (and anything else after it) takes the id kept at sign-in, without a select.
    _, headers = history
    missing = "/v1/sessions/00000000-0000-4000-8000-000000000000"
    with count_statements(connection) as statements:
        read = client.get(missing, headers=headers)
    assert read.status_code == 404
    assert len(statements) == 2, "\n".join(statements)  # the user, the session looked for
    with count_statements(connection) as statements:
        refused = client.post("/v1/sessions", json={"pain_before": 11}, headers=headers)
    assert refused.status_code == 422
    assert len(statements) == 1, "\n".join(statements)  # the user
