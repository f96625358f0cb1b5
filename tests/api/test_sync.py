"""Delta sync: change order, tombstones, access changes, expiry, no skipped changes."""

import base64
import json
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from models import (
    Alert,
    AlertTrigger,
    AuditEvent,
    CareLink,
    CheckIn,
    MassageSession,
    User,
)
from tests.conftest import checkin_body, session_body, unsaved_patient

RED_FLAG = {"bladder_bowel_change": True}
FELT = datetime(2026, 11, 1, tzinfo=UTC)


def sync_all(client, headers, cursor=None, limit=50):
    """Follow has_more to the end; return (changes, next_cursor)."""
    changes = []
    while True:
        url = f"/v1/sync?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert len(body["changes"]) <= limit
        changes += body["changes"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return changes, cursor


def apply(replica: dict, changes: list) -> dict:
    for change in changes:
        key = (change["type"], change["id"])
        if change["op"] == "delete":
            assert change["deleted_at"] and change["data"] is None
            replica.pop(key, None)
        else:
            replica[key] = change["data"]
    return replica


def server_view(client, headers) -> dict:
    view = {}
    for kind, path in (
        ("session", "/v1/sessions"),
        ("checkin", "/v1/checkins"),
        ("alert", "/v1/alerts"),
    ):
        cursor = None
        while True:
            url = f"{path}?limit=200" + (f"&cursor={cursor}" if cursor else "")
            body = client.get(url, headers=headers).get_json()
            view.update({(kind, item["id"]): item for item in body["items"]})
            cursor = body["next_cursor"]
            if cursor is None:
                break
    return view


def test_full_sync_then_deltas_with_edits_and_tombstones(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    first = client.post("/v1/sessions", json=session_body(), headers=headers).get_json()
    client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=headers)
    changes, cursor = sync_all(client, headers, limit=1)
    assert sorted(c["type"] for c in changes) == ["alert", "checkin", "session"]
    assert all(c["op"] == "upsert" for c in changes)
    assert sync_all(client, headers, cursor) == ([], cursor)
    client.patch(f"/v1/sessions/{first['id']}", json={"pain_after": 2}, headers=headers)
    client.delete(f"/v1/sessions/{first['id']}", headers=headers)
    delta, cursor2 = sync_all(client, headers, cursor)
    # The edit and the deletion of one row: its latest state, a tombstone, comes once.
    assert [(c["type"], c["id"], c["op"]) for c in delta] == [("session", first["id"], "delete")]
    assert delta[0]["deleted_at"]
    replica = apply(apply({}, changes), delta)
    assert replica == server_view(client, headers)


def test_changes_come_in_change_order(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    _, cursor = sync_all(client, headers)
    ids = [
        client.post("/v1/checkins", json=checkin_body(pain=p), headers=headers).get_json()["id"]
        for p in (3, 4, 5)
    ]
    client.patch(f"/v1/checkins/{ids[0]}", json={"pain": 2}, headers=headers)
    delta, _ = sync_all(client, headers, cursor, limit=2)
    assert [c["id"] for c in delta] == [ids[1], ids[2], ids[0]]


def test_a_write_is_stored_as_its_response_says_and_synced_after_the_cursor(client, make, db):
    """On PostgreSQL a write's rows are numbered at commit, after its response is built
    (models.changes): the number must be all that changes. A read afterwards gives the
    response's session and alerts alike, ETag (version) and update times included, and a
    sync from before the write brings each of them, as its own endpoint returns it."""
    patient = make.user("patient")
    headers = make.headers(patient)
    _, cursor = sync_all(client, headers)
    created = client.post("/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=headers)
    assert created.status_code == 201
    written = created.get_json()
    session = {k: v for k, v in written.items() if k != "alerts"}
    read = client.get(f"/v1/sessions/{written['id']}", headers=headers)
    assert read.headers["ETag"] == created.headers["ETag"] and read.get_json() == session
    assert written["alerts"]
    for alert in written["alerts"]:
        assert client.get(f"/v1/alerts/{alert['id']}", headers=headers).get_json() == alert
    delta, _ = sync_all(client, headers, cursor)
    expected = {("session", session["id"]): session}
    expected |= {("alert", alert["id"]): alert for alert in written["alerts"]}
    assert {(c["type"], c["id"]): c["data"] for c in delta} == expected
    db.expire_all()
    stored = db.get(MassageSession, uuid.UUID(written["id"]))
    assert stored.version == 1 and stored.change_seq > 0
    # A change is numbered the same way: one change, one version more.
    url = f"/v1/sessions/{written['id']}"
    patched = client.patch(url, json={"pain_after": 2}, headers=headers)
    assert patched.status_code == 200
    read = client.get(url, headers=headers)
    assert read.headers["ETag"] == patched.headers["ETag"] and read.get_json() == {
        k: v for k, v in patched.get_json().items() if k != "alerts"
    }
    db.expire_all()
    assert db.get(MassageSession, stored.id).version == 2


def test_ended_link_sends_tombstones_and_new_link_brings_records(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    p_headers, t_headers = make.headers(patient), make.headers(therapist)
    session = client.post("/v1/sessions", json=session_body(symptoms=RED_FLAG), headers=p_headers)
    client.post("/v1/checkins", json=checkin_body(), headers=p_headers)
    changes, cursor = sync_all(client, t_headers)
    replica = apply({}, changes)
    assert len(replica) == 3
    client.delete(f"/v1/care-links/{link.id}", headers=p_headers)
    gone, cursor = sync_all(client, t_headers, cursor)
    assert {c["op"] for c in gone} == {"delete"} and len(gone) == 3
    assert apply(replica, gone) == {} == server_view(client, t_headers)
    # While unlinked, new records are not sent; a new link brings everything in.
    client.post("/v1/checkins", json=checkin_body(pain=6), headers=p_headers)
    assert sync_all(client, t_headers, cursor)[0] == []
    client.post("/v1/care-links", json={"therapist_email": therapist.email}, headers=p_headers)
    back, _ = sync_all(client, t_headers, cursor)
    replica = apply(replica, back)
    assert len(replica) == 4 and replica == server_view(client, t_headers)
    assert ("session", session.get_json()["id"]) in replica


def test_cursor_older_than_tombstone_retention_is_410(app, client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    old_cursor = sync_all(client, headers)[1]
    created = client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()
    client.delete(f"/v1/checkins/{created['id']}", headers=headers)
    app.config["SYNC_TOMBSTONE_RETENTION_DAYS"] = 0
    result = app.test_cli_runner().invoke(args=["purge-tombstones"])
    assert result.exit_code == 0 and "removed 1 tombstones" in result.output
    resp = client.get(f"/v1/sync?cursor={old_cursor}", headers=headers)
    assert resp.status_code == 410 and resp.mimetype == "application/problem+json"
    fresh, cursor = sync_all(client, headers)
    assert (
        fresh == [] and client.get(f"/v1/sync?cursor={cursor}", headers=headers).status_code == 200
    )


def _purge_all(app) -> None:
    app.config["SYNC_TOMBSTONE_RETENTION_DAYS"] = 0
    result = app.test_cli_runner().invoke(args=["purge-tombstones"])
    assert result.exit_code == 0 and "removed" in result.output


def test_a_first_sync_of_several_pages_finishes_after_a_purge(app, client, make):
    patient, other = make.user("patient"), make.user("patient")
    headers = make.headers(patient)
    created = [
        client.post("/v1/checkins", json=checkin_body(pain=pain), headers=headers).get_json()
        for pain in range(5)
    ]
    gone = client.post("/v1/checkins", json=checkin_body(), headers=make.headers(other))
    client.delete(f"/v1/checkins/{gone.get_json()['id']}", headers=make.headers(other))
    _purge_all(app)  # someone else's deletion, after every one of these records
    changes, cursor = sync_all(client, headers, limit=2)  # a new phone: three pages
    assert [c["id"] for c in changes] == [c["id"] for c in created]
    # A later purge that this replica has not passed expires its cursor, as before.
    extra = client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()
    client.delete(f"/v1/checkins/{extra['id']}", headers=headers)
    _purge_all(app)
    assert client.get(f"/v1/sync?cursor={cursor}", headers=headers).status_code == 410


def test_a_cursor_that_passed_the_purged_tombstones_keeps_working(app, client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()
    client.delete(f"/v1/checkins/{created['id']}", headers=headers)
    _, cursor = sync_all(client, headers)  # past the tombstone
    _purge_all(app)
    later = client.post("/v1/checkins", json=checkin_body(pain=6), headers=headers).get_json()
    changes, cursor = sync_all(client, headers, cursor)
    assert [c["id"] for c in changes] == [later["id"]]
    assert client.get(f"/v1/sync?cursor={cursor}", headers=headers).status_code == 200


def _sync_with_a_purge(client, headers, cursor, connection, before):
    """GET /v1/sync with the cursor while a purge of every tombstone commits just before the
    first statement `before` picks (as the purge command would, from another connection).
    Returns whether it ran, and the answer."""
    purged = []

    def purge(conn, _cursor, statement, *_args):
        if purged or not before(statement.lstrip()):
            return
        purged.append(True)
        conn.exec_driver_sql(
            "UPDATE change_counter SET purged_through = "
            "(SELECT max(change_seq) FROM checkins WHERE deleted_at IS NOT NULL)"
        )
        conn.exec_driver_sql("DELETE FROM checkins WHERE deleted_at IS NOT NULL")

    event.listen(connection, "before_cursor_execute", purge)
    try:
        return purged, client.get(f"/v1/sync?cursor={cursor}", headers=headers)
    finally:
        event.remove(connection, "before_cursor_execute", purge)


def test_a_purge_between_a_pages_two_reads_expires_the_cursor_instead_of_failing(
    client, make, connection
):
    """PostgreSQL reads each statement afresh: a purge can remove a tombstone after the page
    listed it and before its record is read. The page then answers 410 (this replica may
    hold the purged record), never a 500."""
    patient = make.user("patient")
    headers = make.headers(patient)
    client.post("/v1/checkins", json=checkin_body(pain=2), headers=headers)
    _, cursor = sync_all(client, headers)
    gone = client.post("/v1/checkins", json=checkin_body(pain=3), headers=headers).get_json()
    client.delete(f"/v1/checkins/{gone['id']}", headers=headers)
    purged, resp = _sync_with_a_purge(
        client, headers, cursor, connection, before=lambda sql: sql.startswith("SELECT checkins.")
    )
    assert purged and resp.status_code == 410


def test_a_purge_before_a_page_lists_its_changes_expires_a_cursor_that_held_its_record(
    client, make, connection
):
    """The purge commits after the page read the counter and before it listed the changes:
    the tombstone is not listed at all, and a replica holding its record must hear 410."""
    headers = make.headers(make.user("patient"))
    held = client.post("/v1/checkins", json=checkin_body(pain=3), headers=headers).get_json()
    _, cursor = sync_all(client, headers)  # the phone holds `held`
    client.delete(f"/v1/checkins/{held['id']}", headers=headers)
    client.post("/v1/checkins", json=checkin_body(pain=5), headers=headers)
    purged, resp = _sync_with_a_purge(
        client, headers, cursor, connection, before=lambda sql: "UNION ALL" in sql
    )
    assert purged and resp.status_code == 410


def _cursor(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


def test_a_cursor_ahead_of_the_servers_history_is_410(client, make):
    headers = make.headers(make.user("patient"))
    seq = json.loads(base64.urlsafe_b64decode(sync_all(client, headers)[1] + "=="))[0]
    # As after a restore from a backup: the phone synced further than the database now is.
    ahead = _cursor(seq + 500, 9, "", 0)
    client.post("/v1/checkins", json=checkin_body(pain=9), headers=headers)
    resp = client.get(f"/v1/sync?cursor={ahead}", headers=headers)
    assert resp.status_code == 410 and "ahead" in resp.get_json()["detail"]


def test_a_cursor_of_three_parts_given_out_before_is_still_read(client, make):
    headers = make.headers(make.user("patient"))
    client.post("/v1/checkins", json=checkin_body(), headers=headers)
    resp = client.get(f"/v1/sync?cursor={_cursor(0, 9, '')}", headers=headers)
    assert resp.status_code == 200 and len(resp.get_json()["changes"]) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "WzEsMl0",
        "W1sxXSwyLCJ4Il0",
        base64.urlsafe_b64encode(b'[1e400, 0, ""]').decode(),
        base64.urlsafe_b64encode(b'[99999999999999999999999, 0, ""]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'[true, 0, ""]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'[1, 0, "", false]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'[1, 0, "", -1]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'[1, 0, "", 0, 0]').decode().rstrip("="),
    ],
)
def test_bad_cursor_is_422(client, make, cursor):
    resp = client.get(f"/v1/sync?cursor={cursor}", headers=make.headers(make.user("patient")))
    assert resp.status_code == 422 and "cursor" in resp.get_json()["errors"]


def test_a_patient_never_syncs_another_patients_records(client, make):
    one, two = make.user("patient"), make.user("patient")
    client.post("/v1/checkins", json=checkin_body(symptoms=RED_FLAG), headers=make.headers(two))
    assert sync_all(client, make.headers(one))[0] == []


# ---- concurrent writers ------------------------------------------------------------------


@pytest.fixture
def committed(engine):
    """Rows committed for real (concurrency needs separate transactions); cleaned up after."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): no interleaving to test")
    made: list[uuid.UUID] = []
    yield made
    with Session(engine) as session, session.begin():
        for model in (AlertTrigger, Alert, MassageSession, CheckIn, CareLink):
            session.execute(delete(model).where(model.patient_id.in_(made)))
        session.execute(delete(AuditEvent).where(AuditEvent.actor_id.in_(made)))
        session.execute(delete(User).where(User.id.in_(made)))


def test_interleaved_writers_cannot_make_a_reader_skip_a_change(app, engine, committed):
    """Writer A starts first and commits last; a reader between the commits misses nothing."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        patient = unsaved_patient("Sync")
        session.add(patient)
    committed.append(patient.id)

    def checkin(pain):
        return CheckIn(patient_id=patient.id, recorded_at=FELT, pain=pain)

    def visible_after(position: int) -> list[int]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(CheckIn.change_seq)
                    .where(CheckIn.patient_id == patient.id, CheckIn.change_seq > position)
                    .order_by(CheckIn.change_seq)
                ).scalars()
            )

    writer_a = Session(engine)
    writer_a.add(checkin(3))
    writer_a.flush()  # A has written its row but not committed
    with Session(engine) as writer_b:
        writer_b.add(checkin(4))
        writer_b.commit()  # B commits first
    seen_first = visible_after(0)
    assert len(seen_first) == 1
    done = threading.Event()
    threading.Thread(target=lambda: (writer_a.commit(), done.set())).start()
    assert done.wait(10)
    writer_a.close()
    # A's change number is higher than everything the reader already saw: nothing skipped.
    later = visible_after(seen_first[-1])
    assert len(later) == 1 and later[0] > seen_first[-1]


# ---- replica property ------------------------------------------------------------------


class SyncMachine(RuleBasedStateMachine):
    """Any sequence of writes, deletions and link changes, synced at any point, leaves each
    replica equal to what the server shows its user."""

    client = make = None

    @initialize()
    def setup(self):
        self.patient = self.make.user("patient")
        self.therapist = self.make.user("therapist")
        self.headers = {
            "patient": self.make.headers(self.patient),
            "therapist": self.make.headers(self.therapist),
        }
        self.replicas = {"patient": {}, "therapist": {}}
        self.cursors = {"patient": None, "therapist": None}
        self.reports: list[tuple[str, str]] = []
        self.link_id = None

    @rule(pain=st.integers(0, 10), red_flag=st.booleans(), kind=st.sampled_from(["s", "c"]))
    def write(self, pain, red_flag, kind):
        symptoms = RED_FLAG if red_flag else {}
        if kind == "s":
            body, path = (
                session_body(pain_before=pain, pain_after=min(10, pain + 2), symptoms=symptoms),
                "/v1/sessions",
            )
        else:
            body, path = checkin_body(pain=pain, symptoms=symptoms), "/v1/checkins"
        resp = self.client.post(path, json=body, headers=self.headers["patient"])
        assert resp.status_code == 201
        self.reports.append((path, resp.get_json()["id"]))

    @rule(data=st.data(), pain=st.integers(0, 10))
    def edit(self, data, pain):
        if self.reports:
            path, report_id = data.draw(st.sampled_from(self.reports))
            field = "pain_before" if path == "/v1/sessions" else "pain"
            self.client.patch(
                f"{path}/{report_id}", json={field: pain}, headers=self.headers["patient"]
            )

    @rule(data=st.data())
    def remove(self, data):
        if self.reports:
            path, report_id = data.draw(st.sampled_from(self.reports))
            self.reports.remove((path, report_id))
            self.client.delete(f"{path}/{report_id}", headers=self.headers["patient"])

    @rule()
    def toggle_link(self):
        if self.link_id:
            self.client.delete(f"/v1/care-links/{self.link_id}", headers=self.headers["patient"])
            self.link_id = None
        else:
            resp = self.client.post(
                "/v1/care-links",
                json={"therapist_email": self.therapist.email},
                headers=self.headers["patient"],
            )
            self.link_id = resp.get_json()["id"]

    @rule(who=st.sampled_from(["patient", "therapist"]), limit=st.integers(1, 5))
    def sync(self, who, limit):
        changes, self.cursors[who] = sync_all(
            self.client, self.headers[who], self.cursors[who], limit
        )
        # Exactly once: a sync of any number of pages names each record at most once.
        named = Counter((c["type"], c["id"]) for c in changes)
        assert not named or max(named.values()) == 1, named
        apply(self.replicas[who], changes)

    @invariant()
    def replicas_match_after_a_sync(self):
        for who in ("patient", "therapist"):
            if self.cursors[who] is None:
                continue
            replica = dict(self.replicas[who])
            changes, cursor = sync_all(self.client, self.headers[who], self.cursors[who])
            assert apply(replica, changes) == server_view(self.client, self.headers[who])


def test_any_history_synced_at_any_point_leaves_replicas_equal(client, make):
    SyncMachine.client, SyncMachine.make = client, make
    SyncMachine.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    SyncMachine.TestCase().runTest()


def test_a_new_link_brings_records_stamped_with_the_cursors_own_number(client, make):
    """The last change before the cursor (same number as the cursor) must come with a link."""
    patient, therapist = make.user("patient"), make.user("therapist")
    t_headers = make.headers(therapist)
    client.post(
        "/v1/sessions",
        json=session_body(pain_before=0, pain_after=2),
        headers=make.headers(patient),
    )
    changes, cursor = sync_all(client, t_headers)
    assert changes == []
    client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=make.headers(patient)
    )
    back, _ = sync_all(client, t_headers, cursor)
    assert sorted(c["type"] for c in back) == ["alert", "session"]


def test_a_therapists_first_sync_of_several_pages_names_each_record_once(client, make):
    """The patient recorded before linking (the usual order): the link brings those records,
    and no later page sends one again."""
    patient, therapist = make.user("patient"), make.user("therapist")
    p_headers = make.headers(patient)
    made = {
        client.post("/v1/checkins", json=checkin_body(pain=pain), headers=p_headers).get_json()[
            "id"
        ]
        for pain in (2, 3, 4)
    }
    linked = client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=p_headers
    )
    assert linked.status_code == 201
    later = client.post("/v1/checkins", json=checkin_body(pain=5), headers=p_headers).get_json()
    for limit in (1, 2, 50):
        changes, _ = sync_all(client, make.headers(therapist), limit=limit)
        assert sorted(c["id"] for c in changes) == sorted(made | {later["id"]}), limit


def test_an_ended_link_tells_nothing_of_what_the_patient_records_after(client, make, db):
    """After the patient ended the link, their new reports and the alerts those raise are
    none of the former therapist's business: not even as ids in tombstones, whatever cursor
    it sends, and however often."""
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    p_headers, t_headers = make.headers(patient), make.headers(therapist)
    before = client.post("/v1/checkins", json=checkin_body(), headers=p_headers).get_json()
    _, cursor = sync_all(client, t_headers)
    assert client.delete(f"/v1/care-links/{link.id}", headers=p_headers).status_code == 204
    after = client.post(
        "/v1/checkins", json=checkin_body(pain=7, symptoms=RED_FLAG), headers=p_headers
    ).get_json()
    made_after = {after["id"]} | {a["id"] for a in after["alerts"]}
    assert len(made_after) == 2
    crafted = base64.urlsafe_b64encode(json.dumps([0, 0, "", 0]).encode()).decode().rstrip("=")
    for start in (cursor, cursor, crafted):
        changes, _ = sync_all(client, t_headers, start, limit=1)
        assert not made_after & {c["id"] for c in changes}
    # What it held while linked is taken away, once.
    gone, _ = sync_all(client, t_headers, cursor)
    assert [(c["id"], c["op"]) for c in gone] == [(before["id"], "delete")]


def test_an_ended_links_tombstones_carry_that_links_own_end(client, make, db):
    """A patient ended two therapists' links at different times: each therapist's tombstones
    say when its own link ended, not when the other's did."""
    patient = make.user("patient")
    first, second = make.user("therapist"), make.user("therapist")
    links = [make.link(patient, first), make.link(patient, second)]
    p_headers = make.headers(patient)
    client.post("/v1/checkins", json=checkin_body(), headers=p_headers)
    cursors = [sync_all(client, make.headers(t))[1] for t in (first, second)]
    for link in links:
        assert client.delete(f"/v1/care-links/{link.id}", headers=p_headers).status_code == 204
    db.expire_all()
    ends = [db.get(CareLink, link.id).ended_at for link in links]
    db.execute(  # the second link ended an hour after the first
        CareLink.__table__.update()
        .where(CareLink.id == links[1].id)
        .values(ended_at=ends[0] + timedelta(hours=1))
    )
    for therapist, cursor, ended in zip(
        (first, second), cursors, (ends[0], ends[0] + timedelta(hours=1)), strict=True
    ):
        gone, _ = sync_all(client, make.headers(therapist), cursor)
        assert {datetime.fromisoformat(c["deleted_at"]) for c in gone} == {ended}


def test_a_record_deleted_while_the_link_was_ended_is_taken_away_on_relink(client, make):
    """The therapist held a check-in; the patient deleted it, ended the link and linked
    again: the relink's sync takes the check-in away (no other change will)."""
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    p_headers, t_headers = make.headers(patient), make.headers(therapist)
    held = client.post("/v1/checkins", json=checkin_body(pain=2), headers=p_headers).get_json()
    changes, cursor = sync_all(client, t_headers)
    replica = apply({}, changes)
    assert ("checkin", held["id"]) in replica
    assert client.delete(f"/v1/checkins/{held['id']}", headers=p_headers).status_code == 204
    assert client.delete(f"/v1/care-links/{link.id}", headers=p_headers).status_code == 204
    again = client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=p_headers
    )
    assert again.status_code == 201
    changes, _ = sync_all(client, t_headers, cursor, limit=1)
    assert apply(replica, changes) == server_view(client, t_headers) == {}
    # A fresh replica is not told of it at all.
    fresh, _ = sync_all(client, t_headers)
    assert fresh == []


def test_a_record_synced_under_a_link_is_taken_away_whatever_the_clocks_said(client, make, db):
    """A check-in written by one request just after another read the clock to end the link
    (or on a server whose clock runs ahead) commits first and is synced under the link: the
    end still takes it away."""
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    p_headers, t_headers = make.headers(patient), make.headers(therapist)
    _, cursor = sync_all(client, t_headers)
    made = client.post("/v1/checkins", json=checkin_body(pain=3), headers=p_headers).get_json()
    changes, cursor = sync_all(client, t_headers, cursor)
    replica = apply({}, changes)
    assert ("checkin", made["id"]) in replica
    assert client.delete(f"/v1/care-links/{link.id}", headers=p_headers).status_code == 204
    created = db.get(CheckIn, uuid.UUID(made["id"])).created_at
    db.execute(
        CareLink.__table__.update()
        .where(CareLink.id == link.id)
        .values(ended_at=created - timedelta(milliseconds=50))
    )
    gone, _ = sync_all(client, t_headers, cursor)
    assert apply(replica, gone) == server_view(client, t_headers) == {}
