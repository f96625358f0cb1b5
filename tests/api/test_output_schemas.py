"""Output schemas dump exactly what marshmallow's own dump gives, with less work per field
(api/schemas/common.py, OutSchema): every kind of answer is read twice, once through each,
and compared."""

import marshmallow as ma
import pytest

from api.schemas.common import OutSchema
from tests.conftest import checkin_body, session_body


@pytest.fixture
def caseload(client, make):
    """A therapist with a linked patient whose history holds sessions, a check-in, alerts (a
    red flag among them), a webhook subscription and a care link: something for every
    kind of field (uuids, times, nested symptoms, lists, nullable values, dotted
    attributes, constants and functions in sync)."""
    therapist = make.user("therapist")
    patient = make.user("patient", affected_side="left", suspected_cause="piriformis")
    make.link(patient, therapist)
    mine = make.headers(patient)
    for day, after in ((20, 4), (22, 8), (24, 8)):
        body = session_body(started_at=f"2026-11-{day}T09:00:00+00:00", pain_before=4)
        body["pain_after"] = after
        assert client.post("/v1/sessions", json=body, headers=mine).status_code == 201
    flag = checkin_body(symptoms={"numbness": 1, "bladder_bowel_change": True, "side": "left"})
    assert client.post("/v1/checkins", json=flag, headers=mine).status_code == 201
    theirs = make.headers(therapist)
    hook = {"url": "https://clinic.example.org/hooks", "events": ["alert.raised"]}
    assert client.post("/v1/webhooks", json=hook, headers=theirs).status_code == 201
    return patient, mine, theirs


def _answers(client, patient, mine, theirs) -> dict:
    session = client.get("/v1/sessions?limit=1", headers=mine).get_json()["items"][0]
    paths = {
        "patient": [
            "/v1/me",
            "/v1/sessions?limit=50",
            f"/v1/sessions/{session['id']}",
            "/v1/checkins",
            "/v1/alerts",
            "/v1/sync",
            "/v1/care-links",
        ],
        "therapist": [
            "/v1/me",
            "/v1/patients",
            "/v1/reports/caseload",
            f"/v1/patients/{patient.id}/report",
            "/v1/reports/techniques",
            "/v1/reports/alert-quality?from=2026-11-01T00:00:00Z&to=2026-12-31T00:00:00Z",
            "/v1/webhooks",
            "/v1/alerts?severity=urgent",
        ],
    }
    answers = {}
    for who, urls in paths.items():
        for url in urls:
            resp = client.get(url, headers=mine if who == "patient" else theirs)
            assert resp.status_code == 200, (url, resp.get_json())
            answers[who, url] = resp.get_json()
    return answers


def test_every_answer_is_dumped_as_marshmallow_dumps_it(client, caseload, monkeypatch):
    patient, mine, theirs = caseload
    fast = _answers(client, patient, mine, theirs)
    monkeypatch.setattr(OutSchema, "_serialize", ma.Schema._serialize)
    stock = _answers(client, patient, mine, theirs)
    assert fast == stock
    # The answers hold what the comparison is about: nested symptoms, a dotted attribute,
    # sync's constants, a list of alerts with their evidence.
    me = fast["patient", "/v1/me"]
    assert me["affected_side"] == "left" and me["suspected_cause"] == "piriformis"
    page = fast["patient", "/v1/sessions?limit=50"]["items"]
    assert len(page) == 3 and page[0]["symptoms"]["side"] == "left"
    alerts = fast["patient", "/v1/alerts"]["items"]
    assert "red_flag_bladder_bowel" in {a["rule"] for a in alerts}
    sync = fast["patient", "/v1/sync"]
    assert {"session", "checkin", "alert"} <= {change["type"] for change in sync["changes"]}


def test_a_missing_attribute_takes_the_field_default_or_is_left_out():
    class Shape(OutSchema):
        name = ma.fields.String()
        label = ma.fields.String(dump_default="none given")
        city = ma.fields.String(attribute="address.city")
        kind = ma.fields.Constant("thing")

    class Thing:
        name = "a"

    class Address:
        city = "Lyon"

    thing = Thing()
    assert Shape().dump(thing) == {"name": "a", "label": "none given", "kind": "thing"}
    thing.address = Address()
    assert Shape().dump(thing)["city"] == "Lyon"
    assert Shape().dump({"name": "b", "address": {"city": "Metz"}}) == {
        "name": "b",
        "label": "none given",
        "city": "Metz",
        "kind": "thing",
    }
    assert Shape(many=True).dump([thing]) == [ma.Schema._serialize(Shape(), thing)]


def test_a_schema_instance_nested_with_only_dumps_only_those_fields():
    class Inner(OutSchema):
        a = ma.fields.Integer()
        b = ma.fields.Integer()

    class Thing:
        a, b = 1, 2

    inner_schema = Inner()
    assert inner_schema.dump(Thing()) == {"a": 1, "b": 2}  # a plan made for both fields

    class Outer(OutSchema):  # Nested copies the instance and sets its fields again
        inner = ma.fields.Nested(inner_schema, only=("a",))

    class Holder:
        inner = Thing()

    assert Outer().dump(Holder()) == {"inner": {"a": 1}}
