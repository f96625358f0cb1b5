"""CSV exports: columns, RFC 4180, formula injection, scope, filters, streaming, audit."""

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services import exports
from models import AuditEvent
from tests.conftest import checkin_body, session_body

SESSION_HEADER = [
    "patient_id",
    "patient_name",
    "id",
    "started_at",
    "duration_minutes",
    "therapist_id",
    "technique",
    "pressure",
    "areas",
    "acute_flare",
    "pain_before",
    "pain_after",
    "numbness",
    "tingling",
    "weakness",
    "symptom_side",
    "bladder_bowel_change",
    "saddle_numbness",
    "notes",
    "created_at",
    "updated_at",
]
CHECKIN_HEADER = [
    "patient_id",
    "patient_name",
    "id",
    "recorded_at",
    "pain",
    "numbness",
    "tingling",
    "weakness",
    "symptom_side",
    "bladder_bowel_change",
    "saddle_numbness",
    "notes",
    "created_at",
    "updated_at",
]
ALERT_HEADER = [
    "patient_id",
    "patient_name",
    "id",
    "first_seen_at",
    "last_seen_at",
    "rule",
    "severity",
    "status",
    "occurrences",
    "title",
    "message",
    "clinician_message",
    "recommendation",
    "evidence_report_ids",
    "ruleset_version",
    "acknowledged_by",
    "acknowledged_at",
    "acknowledgement_outcome",
    "acknowledgement_reason",
    "resolved_by",
    "resolved_at",
    "resolution",
    "resolution_note",
]


def _rows(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True), newline="")))


def _records(resp) -> list[dict]:
    header, *rows = _rows(resp)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _post(client, make, path, user, body):
    resp = client.post(path, json=body, headers=make.headers(user))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _events(db, **filters) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).filter_by(**filters)))


def test_sessions_csv_holds_every_column_of_the_session(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    body = session_body(
        patient_id=str(patient.id),
        areas=["lower_back", "sciatic_nerve_path"],
        acute_flare=True,
        pressure="light",
        symptoms={"numbness": 1, "tingling": 2, "weakness": 0, "side": "right"},
        notes='Tight, "very" tight,\nthen better. Müller 🙂',
    )
    written = _post(client, make, "/v1/sessions", therapist, body)
    resp = client.get("/v1/exports/sessions.csv", headers=make.headers(patient))
    assert resp.status_code == 200
    header, row = _rows(resp)
    assert header == SESSION_HEADER
    got = dict(zip(header, row, strict=True))
    assert got == {
        "patient_id": str(patient.id),
        "patient_name": patient.display_name,
        "id": written["id"],
        "started_at": "2026-11-20T08:00:00Z",
        "duration_minutes": "50",
        "therapist_id": str(therapist.id),
        "technique": "swedish",
        "pressure": "light",
        "areas": "lower_back;sciatic_nerve_path",
        "acute_flare": "true",
        "pain_before": "5",
        "pain_after": "4",
        "numbness": "1",
        "tingling": "2",
        "weakness": "0",
        "symptom_side": "right",
        "bladder_bowel_change": "false",
        "saddle_numbness": "false",
        "notes": 'Tight, "very" tight,\nthen better. Müller 🙂',
        "created_at": written["created_at"],
        "updated_at": written["updated_at"],
    }
    assert got["created_at"].endswith("Z")


def test_checkins_csv_holds_every_column_and_empty_cells_for_nulls(client, make):
    patient = make.user("patient")
    written = _post(
        client,
        make,
        "/v1/checkins",
        patient,
        checkin_body(recorded_at="2026-11-21T03:30:00-05:00", pain=6, symptoms={"side": None}),
    )
    resp = client.get("/v1/exports/checkins.csv", headers=make.headers(patient))
    header, row = _rows(resp)
    assert header == CHECKIN_HEADER
    assert dict(zip(header, row, strict=True)) == {
        "patient_id": str(patient.id),
        "patient_name": patient.display_name,
        "id": written["id"],
        "recorded_at": "2026-11-21T08:30:00Z",
        "pain": "6",
        "numbness": "",
        "tingling": "",
        "weakness": "",
        "symptom_side": "",
        "bladder_bowel_change": "false",
        "saddle_numbness": "false",
        "notes": "",
        "created_at": written["created_at"],
        "updated_at": written["updated_at"],
    }


def test_alerts_csv_holds_every_column_of_the_alert(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    written = _post(
        client,
        make,
        "/v1/sessions",
        patient,
        session_body(symptoms={"bladder_bowel_change": True}),
    )
    alert_id = written["alerts"][0]["id"]
    client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "accepted", "reason": "=Called the patient"},
        headers=make.headers(therapist),
    )
    alert = client.get(f"/v1/alerts/{alert_id}", headers=make.headers(patient)).get_json()
    resp = client.get("/v1/exports/alerts.csv", headers=make.headers(therapist))
    header, *rows = _rows(resp)
    assert header == ALERT_HEADER
    got = next(dict(zip(header, r, strict=True)) for r in rows if r[2] == alert_id)
    expected = {name: _cell(alert.get(name)) for name in ALERT_HEADER[2:]}
    expected.update(
        patient_id=str(patient.id),
        patient_name=patient.display_name,
        evidence_report_ids=";".join(alert["evidence"]["report_ids"]),
        acknowledgement_reason="'=Called the patient",
    )
    assert got == expected
    assert got["rule"] == "red_flag_bladder_bowel" and got["status"] == "acknowledged"
    assert written["id"] in got["evidence_report_ids"]


@pytest.mark.parametrize("name", ["sessions", "checkins", "alerts"])
def test_export_is_a_streamed_utf8_csv_attachment(client, make, name):
    patient = make.user("patient")
    resp = client.get(f"/v1/exports/{name}.csv", headers=make.headers(patient))
    assert resp.status_code == 200
    assert resp.is_streamed
    assert resp.mimetype == "text/csv"
    assert resp.mimetype_params["charset"] == "utf-8"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{name}.csv"'
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_data()
    assert body == (",".join(exports.EXPORTS[name].header) + "\r\n").encode()


def test_rows_end_with_crlf_and_quoting_follows_rfc_4180(client, make):
    patient = make.user("patient")
    _post(client, make, "/v1/checkins", patient, checkin_body(notes='a, "b"\r\nc'))
    text = client.get("/v1/exports/checkins.csv", headers=make.headers(patient)).get_data(
        as_text=True
    )
    assert text.endswith("\r\n")
    assert ',"a, ""b""\r\nc",' in text
    assert _records_from_text(text)[0]["notes"] == 'a, "b"\r\nc'


def _records_from_text(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("notes", "cell"),
    [
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("42", "42"),
        ("plain = fine", "plain = fine"),
        ("", ""),
    ],
)
def test_formula_injection_is_neutralised_in_text_and_numbers_stay_numbers(
    client, make, notes, cell
):
    patient = make.user("patient")
    _post(client, make, "/v1/sessions", patient, session_body(notes=notes, pain_before=3))
    _post(client, make, "/v1/checkins", patient, checkin_body(notes=notes, pain=2))
    headers = make.headers(patient)
    (session,) = _records(client.get("/v1/exports/sessions.csv", headers=headers))
    (checkin,) = _records(client.get("/v1/exports/checkins.csv", headers=headers))
    assert session["notes"] == cell and checkin["notes"] == cell
    assert (session["pain_before"], session["duration_minutes"], checkin["pain"]) == (
        "3",
        "50",
        "2",
    )


def test_hostile_display_name_is_neutralised(client, make, db):
    patient = make.user("patient")
    patient.display_name = "=cmd|' /C calc'!A0"
    db.flush()
    _post(client, make, "/v1/checkins", patient, checkin_body())
    (row,) = _records(client.get("/v1/exports/checkins.csv", headers=make.headers(patient)))
    assert row["patient_name"] == "'=cmd|' /C calc'!A0"


@pytest.fixture
def caseload(client, make):
    """A therapist with two linked patients, one former and one never linked; a session each."""
    therapist = make.user("therapist")
    patients = {key: make.user("patient") for key in ("a", "b", "former", "stranger")}
    make.link(patients["a"], therapist)
    make.link(patients["b"], therapist)
    make.link(patients["former"], therapist, status="ended")
    sessions = {
        key: _post(client, make, "/v1/sessions", patient, session_body())["id"]
        for key, patient in patients.items()
    }
    return therapist, patients, sessions


@pytest.mark.parametrize("name", ["sessions", "checkins", "alerts"])
def test_therapist_exports_span_linked_patients_only(client, make, caseload, name):
    therapist, patients, _ = caseload
    for patient in patients.values():
        _post(client, make, "/v1/checkins", patient, checkin_body())
        _post(
            client, make, "/v1/checkins", patient, checkin_body(symptoms={"saddle_numbness": True})
        )
    resp = client.get(f"/v1/exports/{name}.csv", headers=make.headers(therapist))
    got = {row["patient_id"] for row in _records(resp)}
    assert got == {str(patients["a"].id), str(patients["b"].id)}


def test_therapist_export_narrowed_to_a_patient(client, make, caseload):
    therapist, patients, sessions = caseload
    resp = client.get(
        f"/v1/exports/sessions.csv?patient_id={patients['b'].id}", headers=make.headers(therapist)
    )
    assert [row["id"] for row in _records(resp)] == [sessions["b"]]


@pytest.mark.parametrize("key", ["former", "stranger", None])
def test_patient_id_the_caller_may_not_see_gives_a_header_only_file(client, make, caseload, key):
    therapist, patients, _ = caseload
    patient_id = patients[key].id if key else uuid.uuid4()
    resp = client.get(
        f"/v1/exports/sessions.csv?patient_id={patient_id}", headers=make.headers(therapist)
    )
    assert resp.status_code == 200
    assert _rows(resp) == [SESSION_HEADER]


def test_patient_exports_only_their_own_rows(client, make, caseload):
    _, patients, sessions = caseload
    headers = make.headers(patients["a"])
    assert [r["id"] for r in _records(client.get("/v1/exports/sessions.csv", headers=headers))] == [
        sessions["a"]
    ]
    other = client.get(f"/v1/exports/sessions.csv?patient_id={patients['b'].id}", headers=headers)
    assert _rows(other) == [SESSION_HEADER]


def test_admin_exports_everyone(client, make, caseload):
    _, _, sessions = caseload
    resp = client.get("/v1/exports/sessions.csv", headers=make.headers(make.user("admin")))
    assert set(sessions.values()) <= {row["id"] for row in _records(resp)}


def test_anonymous_gets_401(client):
    resp = client.get("/v1/exports/sessions.csv")
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"


def test_from_is_inclusive_to_is_exclusive_and_offsets_count(client, make):
    patient = make.user("patient")
    for hour in ("07", "08", "09", "10"):
        _post(
            client,
            make,
            "/v1/sessions",
            patient,
            session_body(started_at=f"2026-11-20T{hour}:00:00Z"),
        )
    resp = client.get(
        "/v1/exports/sessions.csv",
        query_string={"from": "2026-11-20T09:00:00+01:00", "to": "2026-11-20T10:00:00Z"},
        headers=make.headers(patient),
    )
    assert [r["started_at"] for r in _records(resp)] == [
        "2026-11-20T08:00:00Z",
        "2026-11-20T09:00:00Z",
    ]


def test_checkin_and_alert_exports_filter_on_their_own_times(client, make):
    patient = make.user("patient")
    _post(client, make, "/v1/checkins", patient, checkin_body(recorded_at="2026-11-01T08:00:00Z"))
    _post(client, make, "/v1/checkins", patient, checkin_body(recorded_at="2026-12-01T08:00:00Z"))
    headers = make.headers(patient)
    november = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    rows = _records(client.get("/v1/exports/checkins.csv", query_string=november, headers=headers))
    assert [r["recorded_at"] for r in rows] == ["2026-11-01T08:00:00Z"]
    _post(client, make, "/v1/checkins", patient, checkin_body(symptoms={"saddle_numbness": True}))
    alerts = client.get("/v1/exports/alerts.csv", headers=headers)
    first_seen = _records(alerts)[0]["first_seen_at"]
    before = _rows(
        client.get("/v1/exports/alerts.csv", query_string={"to": first_seen}, headers=headers)
    )
    since = _records(
        client.get("/v1/exports/alerts.csv", query_string={"from": first_seen}, headers=headers)
    )
    assert before == [ALERT_HEADER] and len(since) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"patient_id": "not-a-uuid"}, "patient_id"),
        ({"from": "2026-11-20T09:00:00"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "from"),
    ],
)
def test_invalid_filters_get_422_problem(client, make, query, field):
    resp = client.get(
        "/v1/exports/sessions.csv", query_string=query, headers=make.headers(make.user("patient"))
    )
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"]


def test_deleted_reports_are_not_exported(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    kept = _post(client, make, "/v1/sessions", patient, session_body())
    gone = _post(
        client, make, "/v1/sessions", patient, session_body(started_at="2026-11-22T09:00:00Z")
    )
    gone_checkin = _post(client, make, "/v1/checkins", patient, checkin_body())
    assert client.delete(f"/v1/sessions/{gone['id']}", headers=headers).status_code == 204
    assert client.delete(f"/v1/checkins/{gone_checkin['id']}", headers=headers).status_code == 204
    sessions = _records(client.get("/v1/exports/sessions.csv", headers=headers))
    assert [r["id"] for r in sessions] == [kept["id"]]
    assert _rows(client.get("/v1/exports/checkins.csv", headers=headers)) == [CHECKIN_HEADER]


def test_rows_come_patient_by_patient_in_time_order_across_many_chunks(client, make, monkeypatch):
    """Tiny chunks: every row once, in order, read after the view returned."""
    monkeypatch.setattr(exports, "ROW_CHUNK", 2)
    monkeypatch.setattr(exports, "PATIENT_CHUNK", 2)
    monkeypatch.setattr(exports, "FLUSH_AT", 1)
    therapist = make.user("therapist")
    expected = []
    for _ in range(3):
        patient = make.user("patient")
        make.link(patient, therapist)
        times = ["2026-11-20T08:00:00Z"] * 3 + ["2026-11-19T08:00:00Z", "2026-11-21T08:00:00Z"]
        ids = [
            _post(client, make, "/v1/checkins", patient, checkin_body(recorded_at=t))["id"]
            for t in times
        ]
        ordered = sorted(zip(times, ids, strict=True))
        expected.append((str(patient.id), [i for _, i in ordered]))
    resp = client.get("/v1/exports/checkins.csv", headers=make.headers(therapist))
    chunks = list(resp.response)
    assert len(chunks) > 5
    rows = _records_from_text(b"".join(chunks).decode())
    expected_ids = [i for _, ids in sorted(expected) for i in ids]
    assert [r["id"] for r in rows] == expected_ids


def test_a_care_link_ended_during_an_export_ends_that_patients_rows_at_once(
    client, make, monkeypatch
):
    monkeypatch.setattr(exports, "ROW_CHUNK", 2)
    monkeypatch.setattr(exports, "FLUSH_AT", 1)
    therapist = make.user("therapist")
    first, second = sorted((make.user("patient"), make.user("patient")), key=lambda u: u.id)
    make.link(first, therapist)
    link = make.link(second, therapist)
    for patient in (first, second):
        for day in range(1, 6):
            body = session_body(started_at=f"2026-10-{day:02d}T09:00:00Z")
            _post(client, make, "/v1/sessions", patient, body)
    resp = client.get("/v1/exports/sessions.csv", headers=make.headers(therapist), buffered=False)
    body = iter(resp.response)
    received = next(body)  # the header, and on SQLite the first patient's first rows
    assert str(second.id).encode() not in received
    ended = client.delete(f"/v1/care-links/{link.id}", headers=make.headers(second))
    assert ended.status_code == 204
    rows = _records_from_text((received + b"".join(body)).decode())
    assert {r["patient_id"] for r in rows} == {str(first.id)} and len(rows) == 5


def test_therapist_export_is_audited_once_per_patient_with_their_row_count(
    client, make, db, caseload
):
    therapist, patients, _ = caseload
    a, b = patients["a"], patients["b"]
    _post(client, make, "/v1/sessions", a, session_body(started_at="2026-11-22T09:00:00Z"))
    headers = make.headers(therapist)
    exported = {}
    for query in ("", "?from=2026-11-21T00:00:00Z", f"?patient_id={b.id}"):
        resp = client.get(f"/v1/exports/sessions.csv{query}", headers=headers)
        exported[query] = (resp.headers["X-Request-ID"], len(_records(resp)))
    (whole, whole_rows), (later, later_rows), (only_b, only_b_rows) = exported.values()
    assert (whole_rows, later_rows, only_b_rows) == (3, 1, 1)
    events = _events(db, actor_id=therapist.id)
    assert {(e.request_id, e.patient_id, e.row_count) for e in events} == {
        (whole, a.id, 2),
        (whole, b.id, 1),
        (later, a.id, 1),
        (only_b, b.id, 1),
    }
    assert {(e.action, e.resource_type, e.actor_role, e.status) for e in events} == {
        ("export.sessions_csv", "session", "therapist", 200)
    }


def test_an_admin_export_is_found_under_each_patient_it_holds(client, make, db):
    admin, one, two = make.user("admin"), make.user("patient"), make.user("patient")
    for patient in (one, two):
        _post(client, make, "/v1/checkins", patient, checkin_body())
    headers = make.headers(admin)
    resp = client.get("/v1/exports/checkins.csv", headers=headers)
    assert resp.status_code == 200 and len(_records(resp)) == 2
    for patient in (one, two):
        found = client.get(f"/v1/audit-events?patient_id={patient.id}", headers=headers)
        assert [
            (e["action"], e["actor_id"], e["row_count"]) for e in found.get_json()["items"]
        ] == [("export.checkins_csv", str(admin.id), 1)]


def test_an_export_of_a_patient_without_rows_is_audited_for_that_patient(
    client, make, db, caseload
):
    therapist, patients, _ = caseload
    a = patients["a"]
    resp = client.get(
        f"/v1/exports/checkins.csv?patient_id={a.id}", headers=make.headers(therapist)
    )
    assert resp.status_code == 200 and _records(resp) == []
    [event] = _events(db, actor_id=therapist.id)
    assert (event.action, event.patient_id, event.row_count) == ("export.checkins_csv", a.id, 0)


def test_patient_exporting_their_own_data_is_not_audited(client, make, db):
    patient = make.user("patient")
    _post(client, make, "/v1/sessions", patient, session_body())
    for name in ("sessions", "checkins", "alerts"):
        resp = client.get(f"/v1/exports/{name}.csv", headers=make.headers(patient))
        assert resp.status_code == 200 and resp.get_data()
    assert _events(db, actor_id=patient.id) == []


def test_admin_export_of_one_patient_names_that_patient_in_the_audit(client, make, db):
    patient, admin = make.user("patient"), make.user("admin")
    _post(client, make, "/v1/checkins", patient, checkin_body())
    _post(client, make, "/v1/checkins", patient, checkin_body(recorded_at="2026-11-22T08:00:00Z"))
    client.get(
        f"/v1/exports/checkins.csv?patient_id={patient.id}", headers=make.headers(admin)
    ).get_data()
    (event,) = _events(db, actor_id=admin.id)
    assert (event.action, event.resource_type, event.patient_id, event.row_count) == (
        "export.checkins_csv",
        "checkin",
        patient.id,
        2,
    )


HOSTILE_NOTES = [
    'a, "b"\r\nc',
    "line one\nline two",
    '"',
    '""',
    "=SUM(A1)",
    "-2",
    "+1",
    "@cmd",
    "\tindent",
    "\rreturn",
    "",
    " leading space",
    "ünïcode 🙂 — ok",
    "\\.",
    None,
]


def test_postgresql_copy_writes_the_same_bytes_as_the_row_by_row_writer(client, make, db):
    """Every export on PostgreSQL goes through COPY; the portable writer is the reference."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY is a PostgreSQL path; set TEST_DATABASE_URL to test it")
    therapist = make.user("therapist")
    for n, name in enumerate(('=Evil, "Name"\nx', "Ann", "")):
        patient = make.user("patient")
        patient.display_name = name
        make.link(patient, therapist)
        for i, note in enumerate(HOSTILE_NOTES):
            started = (
                f"2026-10-{1 + i:02d}T10:00:0{n}.{i:06d}+02:00"
                if i % 2
                else (f"2026-10-{1 + i:02d}T10:00:00+02:00")
            )
            body = session_body(
                started_at=started,
                notes=note,
                pain_before=3 + i % 5,
                pain_after=None if i % 4 == 0 else 9,
                areas=["sciatic_nerve_path", "buttock"] if i % 3 else ["hip"],
                acute_flare=i % 2 == 0,
                symptoms={"numbness": i % 3, "side": "left"} if i % 2 else {},
            )
            _post(client, make, "/v1/sessions", patient, body)
            checkin = checkin_body(recorded_at=f"2026-10-{1 + i:02d}T20:00:00Z", notes=note)
            _post(client, make, "/v1/checkins", patient, checkin)
    db.flush()
    visible = exports.access.visible_patient_ids(therapist)
    october = datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 11, tzinfo=UTC)
    scopes = [
        exports.Scope(visible=None, patient_id=None, felt_from=None, felt_to=None),
        exports.Scope(visible=visible, patient_id=None, felt_from=october[0], felt_to=None),
        exports.Scope(
            visible=visible, patient_id=patient.id, felt_from=october[0], felt_to=october[1]
        ),
    ]
    for export in exports.EXPORTS.values():
        for scope in scopes:
            reference = b"".join(exports._body(_session_on(db), export, scope))
            copied = b"".join(exports._copy_body(_session_on(db), export, scope, timeout_ms=None))
            assert copied == reference, export.name
            if scope.felt_to is None:
                assert reference.count(b"\r\n") > 10, export.name


def _session_on(db) -> Session:
    return Session(bind=db.get_bind(), join_transaction_mode="create_savepoint")
