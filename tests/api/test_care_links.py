"""Care links: a patient grants a therapist access, either side ends it, access follows."""

from sqlalchemy import select

from models import CareLink
from tests.conftest import same_problem, session_body


def test_patient_links_therapist_by_email_and_therapist_then_sees_sessions(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    client.post("/v1/sessions", json=session_body(), headers=make.headers(patient))
    assert client.get("/v1/sessions", headers=make.headers(therapist)).get_json()["items"] == []
    resp = client.post(
        "/v1/care-links",
        json={"therapist_email": therapist.email.upper()},
        headers=make.headers(patient),
    )
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["patient_id"] == str(patient.id) and body["therapist_id"] == str(therapist.id)
    assert body["status"] == "active"
    items = client.get("/v1/sessions", headers=make.headers(therapist)).get_json()["items"]
    assert len(items) == 1


def test_linking_a_non_therapist_a_deactivated_therapist_or_unknown_email_is_the_same_422(
    client, make, db
):
    patient, other, admin = make.user("patient"), make.user("patient"), make.user("admin")
    gone = make.user("therapist")
    off = client.patch(f"/v1/users/{gone.id}", json={"active": False}, headers=make.headers(admin))
    assert off.status_code == 200 and off.get_json()["deactivated_at"]
    answers = [
        client.post(
            "/v1/care-links", json={"therapist_email": email}, headers=make.headers(patient)
        )
        for email in (other.email, admin.email, gone.email, "nobody@example.org")
    ]
    assert {a.status_code for a in answers} == {422}
    assert "therapist_email" in answers[0].get_json()["errors"]
    # Nothing tells a patient account, an admin or a deactivated therapist from an email
    # nobody has.
    assert [same_problem(a) for a in answers] == [same_problem(answers[-1])] * len(answers)
    assert db.scalar(select(CareLink)) is None


def test_second_active_link_to_same_therapist_is_409(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    resp = client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=make.headers(patient)
    )
    assert resp.status_code == 409


def test_patient_cannot_set_status_or_patient_on_link(client, make):
    patient, therapist = make.user("patient"), make.user("therapist")
    resp = client.post(
        "/v1/care-links",
        json={"therapist_email": therapist.email, "status": "ended", "patient_id": str(patient.id)},
        headers=make.headers(patient),
    )
    assert resp.status_code == 422


def test_therapist_cannot_create_links(client, make):
    therapist = make.user("therapist")
    resp = client.post(
        "/v1/care-links", json={"therapist_email": therapist.email}, headers=make.headers(therapist)
    )
    assert resp.status_code == 403


def test_either_side_ends_link_and_access_ends_at_once(client, make, db):
    patient, therapist = make.user("patient"), make.user("therapist")
    created = client.post("/v1/sessions", json=session_body(), headers=make.headers(patient))
    session_id = created.get_json()["id"]
    for ender in (patient, therapist):
        link = make.link(patient, therapist)
        assert (
            client.get(f"/v1/sessions/{session_id}", headers=make.headers(therapist)).status_code
            == 200
        )
        resp = client.delete(f"/v1/care-links/{link.id}", headers=make.headers(ender))
        assert resp.status_code == 204
        assert (
            client.get(f"/v1/sessions/{session_id}", headers=make.headers(therapist)).status_code
            == 404
        )
        db.expire_all()
        assert db.get(CareLink, link.id).status == "ended"
        assert db.get(CareLink, link.id).ended_by == ender.id


def test_outsider_cannot_end_or_see_a_link(client, make, db):
    patient, therapist, outsider = (
        make.user("patient"),
        make.user("therapist"),
        make.user("therapist"),
    )
    link = make.link(patient, therapist)
    assert (
        client.delete(f"/v1/care-links/{link.id}", headers=make.headers(outsider)).status_code
        == 404
    )
    assert client.get("/v1/care-links", headers=make.headers(outsider)).get_json()["items"] == []
    db.expire_all()
    assert db.get(CareLink, link.id).status == "active"


def test_list_filters_by_status(client, make):
    patient = make.user("patient")
    make.link(patient, make.user("therapist"))
    make.link(patient, make.user("therapist"), status="ended")
    headers = make.headers(patient)
    assert len(client.get("/v1/care-links", headers=headers).get_json()["items"]) == 2
    active = client.get("/v1/care-links?status=active", headers=headers).get_json()["items"]
    assert [link["status"] for link in active] == ["active"]
