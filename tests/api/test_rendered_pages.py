"""Pages of sessions and check-ins, and single reads of one, are rendered by the database
(api/schemas/rendered.py): each item must be what marshmallow's own dump of the same row
gives, on SQLite and on PostgreSQL, for every kind of value a column can hold."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import marshmallow as ma
import pytest
from sqlalchemy import select, text

from api.schemas.common import AwareDateTime
from api.schemas.rendered import item_json
from api.schemas.reports import CheckInOut, SessionOut
from models import CheckIn, MassageSession
from tests.conftest import checkin_body, session_body

NOTES = [
    None,
    "",
    "Quotes \" and \\ backslash, a tab\tand a new line\n, an apostrophe '",
    "Ischias: Besserung ✓ — 坐骨神经痛 🙂",
    "Control \x01 and \x1f characters, and U+2028 \u2028 too",
]


def _stock_dump(schema: type[ma.Schema], rows: list) -> list[dict]:
    """marshmallow's own dump, not the OutSchema shortcut: the reference."""
    dumped = schema(many=True)
    return ma.Schema._serialize(dumped, rows, many=True)


@pytest.fixture
def history(client, make, db):
    """A patient with sessions and check-ins of every shape: recorded through the API (by
    the patient, and by their therapist, which fills therapist_id) and stored directly,
    with times that have no microseconds, empty and absent values, and unusual text."""
    therapist = make.user("therapist")
    patient = make.user("patient")
    make.link(patient, therapist)
    mine, theirs = make.headers(patient), make.headers(therapist)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for i, notes in enumerate(NOTES):
        body = session_body(
            started_at=(start + timedelta(days=i, microseconds=i * 1010)).isoformat(),
            notes=notes,
            areas=[] if i % 2 else ["lower_back", "sciatic_nerve_path"],
            acute_flare=bool(i % 2),
            symptoms={"numbness": i % 4, "side": [None, "left", "both"][i % 3]},
        )
        if i == 2:
            body["pain_after"] = None
        headers = mine
        if i == 3:
            body["patient_id"] = str(patient.id)
            headers = theirs
        assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201
        felt = start + timedelta(days=i, hours=3)
        checkin = checkin_body(
            recorded_at=felt.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
            pain=i,
            notes=notes,
            symptoms={"bladder_bowel_change": i == 4, "saddle_numbness": i == 1},
        )
        assert client.post("/v1/checkins", json=checkin, headers=mine).status_code == 201
    # Whole seconds everywhere, which the API's own clock never gives created_at.
    whole = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
    db.add(
        MassageSession(
            id=uuid.uuid4(),
            patient_id=patient.id,
            started_at=whole,
            duration_minutes=30,
            technique="other",
            pressure="deep",
            areas=["foot"],
            pain_before=0,
            pain_after=10,
            created_at=whole,
            updated_at=whole,
        )
    )
    db.add(CheckIn(patient_id=patient.id, recorded_at=whole, pain=10, created_at=whole))
    db.flush()
    return patient, mine, theirs


EACH_KIND = pytest.mark.parametrize(
    ("path", "model", "schema"),
    [("/v1/sessions", MassageSession, SessionOut), ("/v1/checkins", CheckIn, CheckInOut)],
)


def _far_from_utc(db) -> None:
    """On PostgreSQL, a session time zone of +13:45: times must still be written in UTC."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SET LOCAL TimeZone = 'Pacific/Chatham'"))


def _all_pages(client, path: str, headers: dict, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        url = f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        assert resp.mimetype == "application/json"
        body = resp.get_json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


@EACH_KIND
def test_a_rendered_page_is_what_marshmallow_dumps(client, db, history, path, model, schema):
    patient, mine, theirs = history
    _far_from_utc(db)
    for headers in (mine, theirs):
        items = _all_pages(client, path, headers, limit=4)
        assert len(items) == len(NOTES) + 1
        ids = [uuid.UUID(item["id"]) for item in items]
        stored = {row.id: row for row in db.scalars(select(model).where(model.id.in_(ids)))}
        assert items == _stock_dump(schema, [stored[i] for i in ids])
    # What the comparison is about is there: every note, a therapist's session, a null
    # pain, whole seconds and microseconds, both booleans.
    assert {item["notes"] for item in items} == set(NOTES)
    times = {item["created_at"] for item in items}
    assert "2026-10-01T08:30:00Z" in times and any("." in t for t in times)
    if model is MassageSession:
        assert any(item["therapist_id"] for item in items)
        assert None in {item["pain_after"] for item in items}
        assert {item["acute_flare"] for item in items} == {True, False}
        assert [] in [item["areas"] for item in items]
    else:
        assert {item["symptoms"]["bladder_bowel_change"] for item in items} == {True, False}


@EACH_KIND
def test_a_single_read_is_what_marshmallow_dumps(client, db, history, path, model, schema):
    patient, mine, theirs = history
    _far_from_utc(db)
    stored = list(db.scalars(select(model).where(model.patient_id == patient.id)))
    assert len(stored) == len(NOTES) + 1
    for headers in (mine, theirs):
        for row in stored:
            resp = client.get(f"{path}/{row.id}", headers=headers)
            assert resp.status_code == 200, resp.get_json()
            assert resp.mimetype == "application/json"
            assert resp.get_json() == _stock_dump(schema, [row])[0]
            assert resp.headers["ETag"] == f'"{row.id.hex[:12]}-{row.version}"'
            again = client.get(
                f"{path}/{row.id}", headers=headers | {"If-None-Match": resp.headers["ETag"]}
            )
            assert again.status_code == 304 and again.data == b""


def test_a_page_is_the_same_read_whole_or_in_pieces(client, history):
    _, mine, _ = history
    whole = client.get("/v1/sessions?limit=200", headers=mine).get_json()
    assert whole["next_cursor"] is None
    assert _all_pages(client, "/v1/sessions", mine, limit=1) == whole["items"]
    felt = [item["started_at"] for item in whole["items"]]
    assert felt == sorted(felt, reverse=True)


def test_a_field_the_database_cannot_render_is_refused_when_built():
    class Scored(ma.Schema):
        id = ma.fields.UUID()
        score = ma.fields.Float()

    class Misnamed(ma.Schema):
        id = ma.fields.UUID()
        felt_at = AwareDateTime()  # a property of the model, not a column

    with pytest.raises(ValueError, match="no rendering"):
        item_json(Scored, MassageSession, "sqlite")
    with pytest.raises(ValueError, match="sessions has no felt_at"):
        item_json(Misnamed, MassageSession, "postgresql")
    with pytest.raises(ValueError, match="no rendering for mysql"):
        item_json(SessionOut, MassageSession, "mysql")
