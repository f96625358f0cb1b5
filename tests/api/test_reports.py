"""Sessions and check-ins: validation, client ids, lists, edits, tombstones, ETags."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from models import Alert, CheckIn, MassageSession
from tests.conftest import checkin_body, same_problem, session_body

RESOURCES = [
    pytest.param("/v1/sessions", MassageSession, session_body, "started_at", id="sessions"),
    pytest.param("/v1/checkins", CheckIn, checkin_body, "recorded_at", id="checkins"),
]


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_create_stores_report_and_returns_it_in_utc(client, make, db, path, model, body, felt):
    patient = make.user("patient")
    resp = client.post(path, json=body(), headers=make.headers(patient))
    assert resp.status_code == 201
    data = resp.get_json()
    assert data[felt].endswith("Z") and data[felt].startswith(body()[felt][:10])
    assert data["alerts"] == []
    assert data["patient_id"] == str(patient.id)
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Location"].endswith(f"{path}/{data['id']}")
    assert resp.headers["ETag"].startswith('"')
    stored = db.get(model, uuid.UUID(data["id"]))
    assert stored.patient_id == patient.id
    assert getattr(stored, felt).utcoffset().total_seconds() == 0
    local_hour = int(body()[felt][11:13])
    assert getattr(stored, felt).hour == local_hour - 1  # sent at +01:00
    got = client.get(f"{path}/{data['id']}", headers=make.headers(patient))
    assert got.status_code == 200 and got.get_json()[felt] == data[felt]


def test_session_time_conversion_is_exact(client, make):
    patient = make.user("patient")
    resp = client.post(
        "/v1/sessions",
        json=session_body(started_at="2026-11-20T23:30:00-05:00"),
        headers=make.headers(patient),
    )
    assert resp.get_json()["started_at"] == "2026-11-21T04:30:00Z"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"pain_before": 11}, "pain_before"),
        ({"pain_before": -1}, "pain_before"),
        ({"pain_before": "5"}, "pain_before"),
        ({"pain_after": 10.5}, "pain_after"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 241}, "duration_minutes"),
        ({"technique": "cracking"}, "technique"),
        ({"pressure": "extreme"}, "pressure"),
        ({"areas": ["neck"]}, "areas"),
        ({"notes": "x" * 2001}, "notes"),
        ({"started_at": "2026-11-20T09:00:00"}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"symptoms": {"numbness": 4}}, "symptoms"),
        ({"symptoms": {"side": "up"}}, "symptoms"),
        ({"symptoms": {"unknown": 1}}, "symptoms"),
        ({"created_at": "2026-11-20T09:00:00Z"}, "created_at"),
        ({"deleted_at": "2026-11-20T09:00:00Z"}, "deleted_at"),
        ({"version": 7}, "version"),
    ],
)
def test_session_validation_rejects_and_saves_nothing(client, make, db, override, field):
    patient = make.user("patient")
    resp = client.post("/v1/sessions", json=session_body(**override), headers=make.headers(patient))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"]
    assert db.scalar(select(MassageSession)) is None


@pytest.mark.parametrize(
    "override",
    [
        {"pain_before": 0, "pain_after": 10},
        {"pain_before": 10, "pain_after": 0},
        {"duration_minutes": 1},
        {"duration_minutes": 240},
        {"notes": "x" * 2000},
        {"pain_after": None},
        {"areas": []},
        {
            "symptoms": {
                "numbness": 3,
                "tingling": 3,
                "weakness": 3,
                "side": "both",
                "bladder_bowel_change": True,
                "saddle_numbness": True,
            }
        },
    ],
)
def test_session_boundary_values_are_accepted(client, make, override):
    patient = make.user("patient")
    resp = client.post("/v1/sessions", json=session_body(**override), headers=make.headers(patient))
    assert resp.status_code == 201, resp.get_json()
    for key, value in override.items():
        if key != "symptoms":
            assert resp.get_json()[key] == value


@pytest.mark.parametrize(
    ("override", "field"), [({"pain": 11}, "pain"), ({"recorded_at": None}, "recorded_at")]
)
def test_checkin_validation(client, make, db, override, field):
    patient = make.user("patient")
    resp = client.post("/v1/checkins", json=checkin_body(**override), headers=make.headers(patient))
    assert resp.status_code == 422 and field in resp.get_json()["errors"]
    assert db.scalar(select(CheckIn)) is None


def test_missing_symptoms_are_not_reported_grades_and_no_red_flag(client, make, db):
    patient = make.user("patient")
    body = session_body()
    del body["symptoms"], body["notes"], body["pain_after"]
    data = client.post("/v1/sessions", json=body, headers=make.headers(patient)).get_json()
    assert data["symptoms"] == {
        "numbness": None,
        "tingling": None,
        "weakness": None,
        "side": None,
        "bladder_bowel_change": False,
        "saddle_numbness": False,
    }
    assert data["pain_after"] is None and data["notes"] is None
    stored = db.get(MassageSession, uuid.UUID(data["id"]))
    assert (stored.numbness, stored.tingling, stored.weakness) == (None, None, None)


def test_a_patch_leaves_one_grade_out_with_null_and_keeps_the_others(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    grades = {"numbness": 1, "tingling": 1, "weakness": 1, "side": "left"}
    written = client.post(
        "/v1/checkins", json=checkin_body(symptoms=grades), headers=headers
    ).get_json()
    resp = client.patch(
        f"/v1/checkins/{written['id']}", json={"symptoms": {"tingling": None}}, headers=headers
    )
    assert resp.status_code == 200
    assert resp.get_json()["symptoms"] == {**written["symptoms"], "tingling": None}
    stored = db.get(CheckIn, uuid.UUID(written["id"]))
    assert (stored.numbness, stored.tingling, stored.weakness) == (1, None, 1)


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_client_id_retry_with_same_content_returns_existing(
    client, make, db, path, model, body, felt
):
    patient = make.user("patient")
    report_id = str(uuid.uuid4())
    first = client.post(path, json=body(id=report_id), headers=make.headers(patient))
    again = client.post(path, json=body(id=report_id), headers=make.headers(patient))
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == report_id
    assert len(db.scalars(select(model)).all()) == 1


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_a_report_stored_with_left_out_grades_as_0_is_found_again_by_its_resend(
    client, make, db, path, model, body, felt
):
    """Before grades could be left out, one left out was stored as 0: the phone that lost
    the answer resends the same body with its id and gets the stored report (200), not a
    409. A grade given differently is still another content."""
    patient = make.user("patient")
    headers = make.headers(patient)
    sent = body(id=str(uuid.uuid4()), symptoms={"tingling": 1, "side": "left"})
    assert client.post(path, json=sent, headers=headers).status_code == 201
    db.execute(update(model).values(numbness=0, weakness=0))  # as stored before 0012
    db.commit()
    again = client.post(path, json=sent, headers=headers)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["symptoms"]["numbness"] == 0
    graded = {**sent, "symptoms": {"numbness": 1, "tingling": 1, "side": "left"}}
    assert client.post(path, json=graded, headers=headers).status_code == 409
    [stored] = db.scalars(select(model)).all()
    db.refresh(stored)
    assert (stored.numbness, stored.tingling, stored.weakness) == (0, 1, 0)


def test_a_session_sent_again_after_its_therapist_was_unlinked_gets_the_stored_one(
    client, make, db
):
    """The phone lost the 201 of a session naming its therapist; the link ends before it
    sends again: the session is stored, so it gets it back (200), not a 422 that would have
    it drop its copy. A new session naming that therapist is refused."""
    patient, therapist = make.user("patient"), make.user("therapist")
    link = make.link(patient, therapist)
    headers = make.headers(patient)
    body = session_body(id=str(uuid.uuid4()), therapist_id=str(therapist.id))
    assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201
    assert client.delete(f"/v1/care-links/{link.id}", headers=headers).status_code == 204
    again = client.post("/v1/sessions", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert again.get_json()["therapist_id"] == str(therapist.id)
    changed = client.post("/v1/sessions", json={**body, "notes": "other"}, headers=headers)
    assert changed.status_code == 409
    new = client.post("/v1/sessions", json={**body, "id": str(uuid.uuid4())}, headers=headers)
    assert new.status_code == 422 and "therapist_id" in new.get_json()["errors"]
    assert len(db.scalars(select(MassageSession)).all()) == 1


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_a_red_flag_sent_again_with_its_id_is_answered_with_its_alerts_while_active(
    client, make, path, model, body, felt
):
    """A phone that lost the first answer sends the report again: it must still learn of the
    urgent alert the report raised (and of nothing once that alert is resolved)."""
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    flagged = body(id=str(uuid.uuid4()), symptoms={"bladder_bowel_change": True})
    first = client.post(path, json=flagged, headers=make.headers(patient)).get_json()
    (raised,) = [a for a in first["alerts"] if a["rule"] == "red_flag_bladder_bowel"]
    again = client.post(path, json=flagged, headers=make.headers(patient))
    assert again.status_code == 200
    assert [a["id"] for a in again.get_json()["alerts"]] == [a["id"] for a in first["alerts"]]
    assert again.get_json()["alerts"][0]["status"] == "open"
    other = client.post(path, json=body(id=str(uuid.uuid4())), headers=make.headers(patient))
    assert raised["id"] not in [a["id"] for a in other.get_json()["alerts"]]
    resolved = client.post(
        f"/v1/alerts/{raised['id']}/resolve", json={"note": "seen"}, headers=make.headers(therapist)
    )
    assert resolved.status_code == 200
    later = client.post(path, json=flagged, headers=make.headers(patient)).get_json()
    assert raised["id"] not in [a["id"] for a in later["alerts"]]


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_a_report_felt_more_than_a_day_ahead_is_refused_and_nothing_changes(
    client, make, db, path, model, body, felt
):
    """A phone clock a time zone off still writes; a typed year does not stand as the
    patient's latest report for months."""
    patient = make.user("patient")
    headers = make.headers(patient)
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    assert client.post(path, json=body(**{felt: soon}), headers=headers).status_code == 201
    for when in (datetime.now(UTC) + timedelta(hours=25), datetime(2100, 12, 1, tzinfo=UTC)):
        resp = client.post(path, json=body(**{felt: when.isoformat()}), headers=headers)
        assert resp.status_code == 422 and felt in resp.get_json()["errors"]
    (stored,) = db.scalars(select(model)).all()
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    moved = client.patch(f"{path}/{stored.id}", json={felt: later}, headers=headers)
    assert moved.status_code == 422


def test_a_session_names_each_area_once(client, make):
    body = session_body(areas=["hip", "hip"])
    resp = client.post("/v1/sessions", json=body, headers=make.headers(make.user("patient")))
    assert resp.status_code == 422 and "areas" in resp.get_json()["errors"]


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_client_id_with_other_content_is_409_and_not_overwritten(
    client, make, db, path, model, body, felt
):
    patient, other = make.user("patient"), make.user("patient")
    report_id = str(uuid.uuid4())
    client.post(path, json=body(id=report_id, notes="mine"), headers=make.headers(patient))
    changed = client.post(
        path, json=body(id=report_id, notes="edited"), headers=make.headers(patient)
    )
    stolen = client.post(path, json=body(id=report_id, notes="mine"), headers=make.headers(other))
    assert changed.status_code == 409 and stolen.status_code == 409
    db.expire_all()
    stored = db.get(model, uuid.UUID(report_id))
    assert stored.patient_id == patient.id and stored.notes == "mine"


def test_deleted_id_cannot_be_recreated(client, make):
    patient = make.user("patient")
    report_id = str(uuid.uuid4())
    headers = make.headers(patient)
    client.post("/v1/sessions", json=session_body(id=report_id), headers=headers)
    deleted = client.delete(f"/v1/sessions/{report_id}", headers=headers)
    assert deleted.status_code == 204 and "Content-Type" not in deleted.headers
    again = client.post("/v1/sessions", json=session_body(id=report_id), headers=headers)
    assert again.status_code == 409
    assert again.get_json()["detail"] == (
        "The session with this id was deleted; a new record needs a new id."
    )
    # Another patient learns only that the id is taken.
    other = make.headers(make.user("patient"))
    taken = client.post("/v1/sessions", json=session_body(id=report_id), headers=other)
    assert taken.status_code == 409 and "deleted" not in taken.get_json()["detail"]


@pytest.mark.parametrize("first", ["checkin", "session"])
def test_a_report_with_the_id_of_the_other_kind_is_refused(client, db, make, first):
    """Ids are the client's, and the analyzer tells a patient's reports apart by them: a
    session may not carry a check-in's id, nor a check-in a session's, however old (a
    session with a check-in's red flag id would have been judged without one of them)."""
    patient = make.user("patient")
    headers = make.headers(patient)
    shared = str(uuid.uuid4())
    earlier = {
        "checkin": ("/v1/checkins", checkin_body(id=shared, recorded_at="2025-01-19T08:00:00Z")),
        "session": ("/v1/sessions", session_body(id=shared, started_at="2025-01-19T08:00:00Z")),
    }
    symptoms = {"numbness": 0, "tingling": 0, "weakness": 0, "bladder_bowel_change": True}
    later = {
        "checkin": ("/v1/sessions", session_body(id=shared, symptoms=symptoms)),
        "session": ("/v1/checkins", checkin_body(id=shared, symptoms=symptoms)),
    }
    path, body = earlier[first]
    assert client.post(path, json=body, headers=headers).status_code == 201
    path, body = later[first]
    resp = client.post(path, json=body, headers=headers)
    assert resp.status_code == 409, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["errors"] == {"id": ["Already used."]}
    stored = [
        *db.scalars(select(MassageSession.id).where(MassageSession.patient_id == patient.id)),
        *db.scalars(select(CheckIn.id).where(CheckIn.patient_id == patient.id)),
    ]
    assert stored == [uuid.UUID(shared)]
    rules = db.scalars(select(Alert.rule).where(Alert.patient_id == patient.id)).all()
    assert "red_flag_bladder_bowel" not in rules


def test_list_pages_with_cursor_newest_first_without_gaps(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    days = [1, 2, 3, 4, 5]
    for day in days:
        client.post(
            "/v1/sessions",
            json=session_body(started_at=f"2026-11-0{day}T10:00:00Z"),
            headers=headers,
        )
    # Two sessions at the same instant must not be lost at a page boundary.
    client.post(
        "/v1/sessions", json=session_body(started_at="2026-11-03T10:00:00Z"), headers=headers
    )
    seen, cursor = [], None
    while True:
        url = "/v1/sessions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).get_json()
        assert len(page["items"]) <= 2
        seen += [item["started_at"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 6


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "cursor=%%%", "cursor=WzFd", "from=bad"])
def test_list_rejects_bad_paging_and_filters(client, make, query):
    patient = make.user("patient")
    resp = client.get(f"/v1/sessions?{query}", headers=make.headers(patient))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


def test_list_limit_200_is_accepted(client, make):
    patient = make.user("patient")
    assert client.get("/v1/sessions?limit=200", headers=make.headers(patient)).status_code == 200


def test_list_filters_by_time_window_and_patient(client, make):
    patient, other, therapist = make.user("patient"), make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    make.link(other, therapist)
    for day in (1, 5, 9):
        client.post(
            "/v1/checkins",
            json=checkin_body(recorded_at=f"2026-11-0{day}T10:00:00Z"),
            headers=make.headers(patient),
        )
    client.post("/v1/checkins", json=checkin_body(), headers=make.headers(other))
    headers = make.headers(therapist)
    everyone = client.get("/v1/checkins", headers=headers).get_json()["items"]
    assert len(everyone) == 4
    window = client.get(
        f"/v1/checkins?patient_id={patient.id}&from=2026-11-02T00:00:00Z&to=2026-11-09T10:00:00Z",
        headers=headers,
    ).get_json()["items"]
    assert [item["recorded_at"] for item in window] == ["2026-11-05T10:00:00Z"]
    assert (
        client.get(
            "/v1/checkins?from=2026-11-09T00:00:00Z&to=2026-11-01T00:00:00Z", headers=headers
        ).status_code
        == 422
    )


def _listed(client, headers: dict, query: str) -> list[str]:
    """Every id of a list, read two at a time through its cursors."""
    ids, cursor = [], None
    while True:
        url = f"/v1/sessions?limit=2&{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.get_json()
        ids += [item["id"] for item in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            return ids


def test_lists_of_users_of_one_role_in_turn_show_each_only_their_own(client, make):
    # The statement of a list is built once per role and kind of question, and its values
    # are bound per request: users asking the same question in turn must each get theirs.
    patients = [make.user("patient") for _ in range(3)]
    therapists = [make.user("therapist"), make.user("therapist")]
    make.link(patients[0], therapists[0])
    make.link(patients[1], therapists[0])
    make.link(patients[2], therapists[1])
    own: dict = {}
    for i, patient in enumerate(patients):
        for day in range(1, 4 + i):
            body = session_body(started_at=f"2026-11-0{day}T10:00:00Z")
            created = client.post("/v1/sessions", json=body, headers=make.headers(patient))
            own.setdefault(patient.id, []).append(created.get_json()["id"])
    span = "from=2026-11-02T00:00:00Z&to=2026-11-04T00:00:00Z"
    in_span = {pid: ids[1:3] for pid, ids in own.items()}  # days 2 and 3
    for _ in range(2):
        for patient in patients:
            headers = make.headers(patient)
            assert sorted(_listed(client, headers, "")) == sorted(own[patient.id])
            assert sorted(_listed(client, headers, span)) == sorted(in_span[patient.id])
        for therapist, linked in ((therapists[0], patients[:2]), (therapists[1], patients[2:])):
            headers = make.headers(therapist)
            everyone = [i for p in linked for i in own[p.id]]
            assert sorted(_listed(client, headers, "")) == sorted(everyone)
            for patient in linked:
                narrowed = _listed(client, headers, f"patient_id={patient.id}&{span}")
                assert sorted(narrowed) == sorted(in_span[patient.id])
            # A patient of the other therapist's: nothing, as for an unknown one.
            stranger = (patients[2] if therapist is therapists[0] else patients[0]).id
            assert _listed(client, headers, f"patient_id={stranger}") == []


def test_patch_changes_only_given_fields_and_merges_symptoms(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post(
        "/v1/sessions", json=session_body(pain_after=None), headers=headers
    ).get_json()
    resp = client.patch(
        f"/v1/sessions/{created['id']}",
        json={"pain_after": 3, "symptoms": {"numbness": 1}},
        headers=headers,
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["pain_after"] == 3 and body["pain_before"] == 5
    assert body["symptoms"]["numbness"] == 1 and body["symptoms"]["tingling"] == 1
    assert body["alerts"] == []
    db.expire_all()
    assert db.get(MassageSession, uuid.UUID(created["id"])).pain_after == 3


@pytest.mark.parametrize(
    "body",
    [
        {"patient_id": "00000000-0000-0000-0000-000000000000"},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"pain_before": 12},
        {"pain_before": None},
    ],
)
def test_patch_refuses_bad_or_protected_fields(client, make, db, body):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/sessions", json=session_body(), headers=headers).get_json()
    resp = client.patch(f"/v1/sessions/{created['id']}", json=body, headers=headers)
    assert resp.status_code == 422
    db.expire_all()
    stored = db.get(MassageSession, uuid.UUID(created["id"]))
    assert stored.patient_id == patient.id and stored.pain_before == 5


def test_etag_if_none_match_gives_304_and_changes_after_edit(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/checkins", json=checkin_body(), headers=headers)
    url = f"/v1/checkins/{created.get_json()['id']}"
    etag = client.get(url, headers=headers).headers["ETag"]
    assert etag == created.headers["ETag"]
    assert client.get(url, headers=headers | {"If-None-Match": etag}).status_code == 304
    # Weakly compared (RFC 9110 13.1.2): a proxy that compresses makes the tag weak.
    weak = headers | {"If-None-Match": f"W/{etag}"}
    assert client.get(url, headers=weak).status_code == 304
    # If-Match compares strongly: a weak tag is not the one read.
    stale = client.patch(url, json={"pain": 2}, headers=headers | {"If-Match": f"W/{etag}"})
    assert stale.status_code == 412
    patched = client.patch(url, json={"pain": 2}, headers=headers)
    assert patched.headers["ETag"] != etag
    assert client.get(url, headers=headers | {"If-None-Match": etag}).status_code == 200


def test_stale_if_match_gets_412_and_changes_nothing(client, make, db):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post("/v1/sessions", json=session_body(), headers=headers)
    url = f"/v1/sessions/{created.get_json()['id']}"
    old = created.headers["ETag"]
    fresh = client.patch(url, json={"pain_after": 2}, headers=headers | {"If-Match": old})
    assert fresh.status_code == 200
    stale_patch = client.patch(url, json={"pain_after": 9}, headers=headers | {"If-Match": old})
    stale_delete = client.delete(url, headers=headers | {"If-Match": old})
    assert stale_patch.status_code == stale_delete.status_code == 412
    assert stale_patch.mimetype == "application/problem+json"
    db.expire_all()
    stored = db.get(MassageSession, uuid.UUID(created.get_json()["id"]))
    assert stored.pain_after == 2 and stored.deleted_at is None
    # Without If-Match the last write wins, so simple clients keep working.
    assert client.patch(url, json={"pain_after": 1}, headers=headers).status_code == 200
    current = client.get(url, headers=headers).headers["ETag"]
    assert client.delete(url, headers=headers | {"If-Match": current}).status_code == 204


@pytest.mark.parametrize(("path", "model", "body", "felt"), RESOURCES)
def test_delete_leaves_tombstone_and_hides_report(client, make, db, path, model, body, felt):
    patient = make.user("patient")
    headers = make.headers(patient)
    created = client.post(path, json=body(), headers=headers).get_json()
    url = f"{path}/{created['id']}"
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert client.patch(url, json={"notes": "x"}, headers=headers).status_code == 404
    assert client.get(path, headers=headers).get_json()["items"] == []
    db.expire_all()
    assert db.get(model, uuid.UUID(created["id"])).deleted_at is not None


def test_therapist_records_for_linked_patient_only(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    headers = make.headers(therapist)
    unlinked = client.post(
        "/v1/sessions", json=session_body(patient_id=str(patient.id)), headers=headers
    )
    random = client.post(
        "/v1/sessions", json=session_body(patient_id=str(uuid.uuid4())), headers=headers
    )
    missing = client.post("/v1/sessions", json=session_body(), headers=headers)
    assert unlinked.status_code == random.status_code == missing.status_code == 422
    assert same_problem(unlinked) == same_problem(random)
    assert missing.get_json()["detail"].endswith("patient_id is required.")
    assert db.scalar(select(MassageSession)) is None
    make.link(patient, therapist)
    resp = client.post(
        "/v1/sessions", json=session_body(patient_id=str(patient.id)), headers=headers
    )
    assert resp.status_code == 201
    assert resp.get_json()["therapist_id"] == str(therapist.id)
    assert resp.get_json()["patient_id"] == str(patient.id)


def test_patient_cannot_write_for_another_patient(client, make, db):
    patient, other = make.user("patient"), make.user("patient")
    resp = client.post(
        "/v1/checkins", json=checkin_body(patient_id=str(other.id)), headers=make.headers(patient)
    )
    assert resp.status_code == 422
    assert db.scalar(select(CheckIn)) is None


def test_patient_names_only_a_linked_therapist(client, make):
    patient, linked, stranger = make.user("patient"), make.user("therapist"), make.user("therapist")
    make.link(patient, linked)
    headers = make.headers(patient)
    ok = client.post(
        "/v1/sessions", json=session_body(therapist_id=str(linked.id)), headers=headers
    )
    bad = client.post(
        "/v1/sessions", json=session_body(therapist_id=str(stranger.id)), headers=headers
    )
    assert ok.status_code == 201 and ok.get_json()["therapist_id"] == str(linked.id)
    assert bad.status_code == 422 and "therapist_id" in bad.get_json()["errors"]


def test_admin_sees_every_patient(client, make):
    admin, one, two = make.user("admin"), make.user("patient"), make.user("patient")
    client.post("/v1/sessions", json=session_body(), headers=make.headers(one))
    client.post("/v1/sessions", json=session_body(), headers=make.headers(two))
    assert len(client.get("/v1/sessions", headers=make.headers(admin)).get_json()["items"]) == 2


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_booleans_accept_only_true_or_false(client, make, db, value):
    patient = make.user("patient")
    resp = client.post(
        "/v1/sessions", json=session_body(acute_flare=value), headers=make.headers(patient)
    )
    assert resp.status_code == 422 and "acute_flare" in resp.get_json()["errors"]
    assert db.scalar(select(MassageSession)) is None


@pytest.mark.parametrize(
    "values",
    [["0001-01-01T00:00:00+01:00", str(uuid.uuid4())], ["9999-12-31T23:59:59-01:00", "x"]],
)
def test_crafted_cursor_out_of_range_is_422(client, make, values):
    resp = client.get(
        f"/v1/sessions?cursor={_cursor(values)}", headers=make.headers(make.user("patient"))
    )
    assert resp.status_code == 422 and "cursor" in resp.get_json()["errors"]


@pytest.mark.parametrize("fraction", ["", ".000250"])
@pytest.mark.parametrize(
    ("path", "felt"), [("/v1/sessions", "started_at"), ("/v1/checkins", "recorded_at")]
)
def test_a_page_goes_on_from_its_cursor_and_from_one_written_with_an_offset(
    client, make, path, felt, fraction
):
    """The next page starts right after the last item, with ties on the felt time broken
    by id, for times in whole seconds and with microseconds; a cursor holding that item's
    time as +00:00 (as cursors were first written) or in another offset goes on from the
    same place."""
    headers = make.headers(make.user("patient"))
    body = session_body if path == "/v1/sessions" else checkin_body
    for minute in (0, 0, 0, 1, 2):  # three at the same instant
        at = f"2026-11-02T10:0{minute}:00{fraction}Z"
        assert client.post(path, json=body(**{felt: at}), headers=headers).status_code == 201
    whole = client.get(f"{path}?limit=10", headers=headers).get_json()["items"]
    first = client.get(f"{path}?limit=3", headers=headers).get_json()
    assert first["items"] == whole[:3]
    last = first["items"][-1]
    at = datetime.fromisoformat(last[felt])
    elsewhere = at.astimezone(timezone(timedelta(hours=-4)))
    cursors = [first["next_cursor"]] + [
        _cursor([written.isoformat(), last["id"]]) for written in (at, elsewhere)
    ]
    for cursor in cursors:
        rest = client.get(f"{path}?limit=10&cursor={cursor}", headers=headers).get_json()
        assert rest == {"items": whole[3:], "next_cursor": None}


def _cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
