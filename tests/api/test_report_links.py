"""The report as PDF, and report links: a browser opens one patient's page, chart and PDF for
15 minutes without a bearer header; read-only, audited, closed by sign-out and by access."""

import io
import sys
from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from api.auth import issue_report_link
from api.services import demo
from models import AuditEvent, CareLink, IdempotencyRecord, User, utcnow
from tests.conftest import PASSWORD, checkin_body, session_body

FORMATS = ("report.html", "chart.svg", "report.pdf")


@pytest.fixture
def linked(make):
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    return patient, therapist


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


def _red_flag(client, make, patient):
    headers = make.headers(patient)
    client.post("/v1/sessions", json=session_body(pain_before=5, pain_after=4), headers=headers)
    flag = checkin_body(pain=6, symptoms={"bladder_bowel_change": True})
    assert client.post("/v1/checkins", json=flag, headers=headers).status_code == 201


def _links(client, headers, patient_id) -> dict:
    resp = client.post(f"/v1/patients/{patient_id}/report-links", json={}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _path(url: str) -> str:
    return urlsplit(url).path


def test_report_pdf_is_a_valid_pdf_that_opens_with_the_banner(client, make, linked):
    patient, therapist = linked
    _red_flag(client, make, patient)
    resp = client.get(f"/v1/patients/{patient.id}/report.pdf", headers=make.headers(therapist))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["Cache-Control"] == "no-store"
    text = _pdf_text(resp.data)
    assert "Urgent:" in text and "seek medical" in text.lower()
    assert text.index("Urgent:") < text.index("Summary")


def test_report_pdf_answers_404_to_outsiders(client, make, linked):
    patient, _ = linked
    outsider = make.user("therapist")
    resp = client.get(f"/v1/patients/{patient.id}/report.pdf", headers=make.headers(outsider))
    assert resp.status_code == 404


@pytest.mark.parametrize("story", ["worsening", "red_flag"])
def test_demo_patients_reports_render_as_page_and_pdf_with_their_banner(client, make, db, story):
    demo.seed(db_session=db)
    db.flush()
    email = next(e for s, e, _ in demo.PATIENTS if s == story)
    patient = db.scalar(select(User).where(User.email == email))
    therapist = db.scalar(select(User).where(User.email == demo.THERAPIST[1]))
    headers = make.headers(therapist)
    page = client.get(f"/v1/patients/{patient.id}/report.html", headers=headers)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index('role="alert"') < html.index("<h2>Summary</h2>")
    pdf = client.get(f"/v1/patients/{patient.id}/report.pdf", headers=headers)
    text = _pdf_text(pdf.data)
    banner = "Urgent:" if story == "red_flag" else "Warning:"
    assert banner in text and patient.display_name in text


@pytest.mark.parametrize("who", ["patient", "therapist"])
def test_report_links_open_page_chart_and_pdf_without_a_bearer_header(
    client, make, linked, db, who
):
    patient, therapist = linked
    _red_flag(client, make, patient)
    holder = patient if who == "patient" else therapist
    links = _links(client, make.headers(holder), patient.id)
    expires = links["expires_at"]
    assert (
        timedelta(minutes=14) < datetime.fromisoformat(expires) - utcnow() <= timedelta(minutes=15)
    )
    page = client.get(_path(links["html_url"]))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'role="alert"' in page.get_data(as_text=True)
    chart = client.get(_path(links["chart_url"]) + "?tz=Europe/Paris")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"
    assert b"Europe/Paris" in chart.data
    pdf = client.get(_path(links["pdf_url"]))
    assert pdf.status_code == 200 and "Urgent:" in _pdf_text(pdf.data)
    actions = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.actor_id == holder.id, AuditEvent.action.like("report_link.%")
        )
    ).all()
    assert sorted(actions) == ["report_link.create"] + ["report_link.open"] * 3


def test_report_links_are_for_one_patient_and_read_only(client, make, linked):
    patient, therapist = linked
    other = make.user("patient")
    make.link(other, therapist)
    links = _links(client, make.headers(therapist), patient.id)
    token = _path(links["html_url"]).split("/")[-2]
    # Another patient's report with this patient's link: refused.
    assert (
        client.get(f"/v1/patients/{other.id}/report-links/{token}/report.html").status_code == 401
    )
    # The token is no bearer token: no other read, no write.
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/me", headers=bearer).status_code == 401
    assert client.get(f"/v1/patients/{patient.id}/report", headers=bearer).status_code == 401
    created = client.post(
        "/v1/sessions", json=session_body(patient_id=str(patient.id)), headers=bearer
    )
    assert created.status_code == 401
    assert client.get(_path(links["html_url"])[:-2] + "x").status_code == 404
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (
        client.get(f"/v1/patients/{patient.id}/report-links/{forged}/report.html").status_code
        == 401
    )


def test_report_links_are_refused_to_those_who_may_not_see_the_patient(client, make, linked):
    patient, _ = linked
    for outsider in (make.user("patient"), make.user("therapist")):
        resp = client.post(
            f"/v1/patients/{patient.id}/report-links", json={}, headers=make.headers(outsider)
        )
        assert resp.status_code == 404


def test_an_expired_report_link_is_refused(app, client, make, linked):
    patient, therapist = linked
    with app.test_request_context():
        token, _ = issue_report_link(
            therapist, patient_id=patient.id, now=utcnow() - timedelta(minutes=16)
        )
    resp = client.get(f"/v1/patients/{patient.id}/report-links/{token}/report.html")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_report_link_ends_at_its_expiry_to_the_second(app, client, make, linked, monkeypatch):
    """The leeway for servers' clocks is for the time of issue only: 15 minutes are 15."""
    patient, therapist = linked
    with app.test_request_context():
        token, expires_at = issue_report_link(therapist, patient_id=patient.id)
    tokens = sys.modules["api.auth"]
    at_expiry = SimpleNamespace(time=lambda: expires_at.timestamp())
    monkeypatch.setattr(tokens, "time", at_expiry)  # the clock, at the link's expiry
    resp = client.get(f"/v1/patients/{patient.id}/report-links/{token}/report.html")
    assert resp.status_code == 401


def test_signing_out_closes_the_report_links_of_that_sign_in(client, make, linked):
    patient, therapist = linked
    signed_in = client.post(
        "/v1/auth/token", json={"email": therapist.email, "password": PASSWORD}
    ).get_json()
    headers = {"Authorization": f"Bearer {signed_in['access_token']}"}
    links = _links(client, headers, patient.id)
    assert client.get(_path(links["pdf_url"])).status_code == 200
    out = client.post("/v1/auth/logout", json={"refresh_token": signed_in["refresh_token"]})
    assert out.status_code == 204
    for name in ("html_url", "chart_url", "pdf_url"):
        assert client.get(_path(links[name])).status_code == 401


def test_an_ended_care_link_closes_the_report_links_at_once(client, make, linked, db):
    patient, therapist = linked
    links = _links(client, make.headers(therapist), patient.id)
    link = db.scalar(select(CareLink).where(CareLink.patient_id == patient.id))
    assert (
        client.delete(f"/v1/care-links/{link.id}", headers=make.headers(patient)).status_code == 204
    )
    for name in ("html_url", "chart_url", "pdf_url"):
        assert client.get(_path(links[name])).status_code == 404


def test_a_retried_report_link_is_made_again_and_its_token_is_stored_nowhere(
    client, make, linked, db
):
    patient, therapist = linked
    headers = make.headers(therapist, **{"Idempotency-Key": "links-1"})
    path = f"/v1/patients/{patient.id}/report-links"
    first = client.post(path, json={}, headers=headers)
    again = client.post(path, json={}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert first.get_json()["html_url"] != again.get_json()["html_url"]
    assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    link = db.scalar(select(CareLink).where(CareLink.patient_id == patient.id))
    client.delete(f"/v1/care-links/{link.id}", headers=make.headers(patient))
    assert client.post(path, json={}, headers=headers).status_code == 404
