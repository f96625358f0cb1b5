"""What an operator sees: /metrics behind its token, counts that follow commits, readyz's
webhook backlog, and one JSON log line per request that holds no token and no health data."""

import json
import logging
import sqlite3
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import update

from api.auth import issue_access_token
from api.db import session_scope
from api.services import reports
from models import MassageSession, OutboxEvent, WebhookDelivery, utcnow
from tests.api.test_webhooks import _loaded_session, _red_flag
from tests.conftest import session_body, sqlite_file_app, unsaved_patient

TOKEN = "metrics-" + "t" * 24


def _scrape(client) -> dict:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _subscribed_patient(client, make):
    """A patient whose therapist subscribes to alert.raised (an unreachable receiver)."""
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    created = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["alert.raised"]},
        headers=make.headers(therapist),
    )
    assert created.status_code == 201
    return patient


@pytest.fixture
def metered(app):
    app.config["METRICS_TOKEN"] = TOKEN
    return app


def test_metrics_are_served_only_to_the_bearer_of_the_configured_token(app, client, make):
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics").status_code == 404
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # An API token is not the metrics token.
    assert client.get("/metrics", headers=make.headers(make.user("admin"))).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_red_flag_counts_its_request_alert_analysis_and_backlog(metered, client, make):
    patient = _subscribed_patient(client, make)
    before = _scrape(client)
    _red_flag(client, make, patient)
    after = _scrape(client)
    raised = {"rule": "red_flag_bladder_bowel", "severity": "urgent"}
    assert (
        _value(after, "alerts_raised_total", **raised)
        - _value(before, "alerts_raised_total", **raised)
        == 1
    )
    request = {"method": "POST", "route": "/v1/sessions", "status": "201"}
    assert (
        _value(after, "http_requests_total", **request)
        - _value(before, "http_requests_total", **request)
        == 1
    )
    timed = {"method": "POST", "route": "/v1/sessions"}
    assert _value(after, "http_request_duration_seconds_count", **timed) > _value(
        before, "http_request_duration_seconds_count", **timed
    )
    assert _value(after, "analyzer_duration_seconds_count") > _value(
        before, "analyzer_duration_seconds_count"
    )
    assert _value(after, "outbox_pending_deliveries") == 1
    assert _value(after, "webhook_deliveries", status="pending") == 1
    assert _value(after, "outbox_oldest_pending_age_seconds") >= 0


def test_an_alert_of_a_rolled_back_write_is_not_counted(metered, client, make):
    patient = make.user("patient")
    raised = {"rule": "red_flag_bladder_bowel", "severity": "urgent"}
    before = _value(_scrape(client), "alerts_raised_total", **raised)
    data = {**_loaded_session(metered), "symptoms": {"bladder_bowel_change": True}}
    with metered.app_context():
        session = metered.extensions["db_sessionmaker"]()
        reports.create(db_session=session, user=patient, model=MassageSession, data=data)
        session.flush()
        assert session.info["alerts_raised"] == [("red_flag_bladder_bowel", "urgent")]
        session.rollback()
        session.close()
    assert _value(_scrape(client), "alerts_raised_total", **raised) == before


def test_readyz_shows_the_webhook_backlog_and_stays_ready(app, client, make, db):
    assert client.get("/readyz").get_json()["outbox"] == {
        "pending": 0,
        "oldest_pending_age_seconds": None,
    }
    patient = _subscribed_patient(client, make)
    _red_flag(client, make, patient)
    db.execute(update(OutboxEvent).values(created_at=utcnow() - timedelta(hours=2)))
    ready = client.get("/readyz")
    assert ready.status_code == 200
    outbox = ready.get_json()["outbox"]
    assert outbox["pending"] == 1 and 7190 < outbox["oldest_pending_age_seconds"] < 7300
    db.execute(update(WebhookDelivery).values(status="delivered"))
    assert client.get("/readyz").get_json()["outbox"]["pending"] == 0


def test_each_request_logs_one_json_line_without_tokens_or_health_values(app, client, make, caplog):
    patient = make.user("patient")
    headers = {**make.headers(patient), "X-Request-ID": "trace-7"}
    body = session_body(notes="slept badly after the long drive", pain_before=6)
    with caplog.at_level(logging.INFO, logger="sciatica_care.requests"):
        written = client.post("/v1/sessions", json=body, headers=headers)
        link = client.post(
            f"/v1/patients/{patient.id}/report-links", json={}, headers=make.headers(patient)
        ).get_json()
        client.get(link["html_url"].split("localhost", 1)[1])
    assert written.status_code == 201
    lines = [r for r in caplog.records if r.name == "sciatica_care.requests"]
    assert len(lines) == 3
    formatter = JsonFormatter("{levelname}{name}{message}", style="{")
    first = json.loads(formatter.format(lines[0]))
    assert first["request_id"] == "trace-7" and first["route"] == "/v1/sessions"
    assert (first["method"], first["status"], first["user_id"]) == ("POST", 201, str(patient.id))
    assert first["duration_ms"] > 0
    opened = json.loads(formatter.format(lines[2]))
    assert (
        opened["route"] == "/v1/patients/<uuid:patient_id>/report-links/<string:token>/report.html"
    )
    everything = "\n".join(formatter.format(r) for r in lines)
    token = link["html_url"].split("/report-links/")[1].split("/")[0]
    for secret in (token, headers["Authorization"].split()[1], "slept badly", "pain"):
        assert secret not in everything


def test_invented_methods_share_one_label(metered, client):
    for method in ("FOOA", "FOOB"):
        assert client.open("/healthz", method=method).status_code == 405
    samples = _scrape(client)
    methods = {
        dict(labels).get("method") for name, labels in samples if name == "http_requests_total"
    }
    assert "OTHER" in methods and not methods & {"FOOA", "FOOB"}


def test_a_failed_savepoint_keeps_the_alerts_of_the_transaction_counted(metered, client, make):
    from sqlalchemy.exc import IntegrityError

    from models import User

    taken = make.user("patient")
    raised = {"rule": "red_flag_bladder_bowel", "severity": "urgent"}
    before = _value(_scrape(client), "alerts_raised_total", **raised)
    with metered.app_context():
        session = metered.extensions["db_sessionmaker"]()
        session.info["alerts_raised"] = [("red_flag_bladder_bowel", "urgent")]
        with pytest.raises(IntegrityError), session.begin_nested():  # as users.create does
            session.add(
                User(email=taken.email, password_hash="!", role="patient", display_name="Dup")
            )
            session.flush()
        session.commit()
        session.close()
    assert _value(_scrape(client), "alerts_raised_total", **raised) == before + 1


@pytest.fixture
def file_app(monkeypatch, tmp_path, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the failure is made by holding SQLite's writer lock from outside")
    yield from sqlite_file_app(
        monkeypatch,
        f"{tmp_path}/logged.sqlite3",
        RATELIMIT_ENABLED=False,
        SQLITE_BUSY_TIMEOUT_MS=200,
    )


def test_a_report_link_that_fails_to_open_keeps_its_token_out_of_the_error_log(file_app, caplog):
    file_app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    with session_scope(file_app) as db_session:
        patient = unsaved_patient()
        db_session.add(patient)
    with file_app.app_context():
        bearer, _ = issue_access_token(patient, family_id=None)
    client = file_app.test_client()
    link = client.post(
        f"/v1/patients/{patient.id}/report-links",
        json={},
        headers={"Authorization": f"Bearer {bearer}"},
    ).get_json()
    path = urlsplit(link["chart_url"]).path
    token = path.split("/")[-2]
    other = sqlite3.connect(file_app.config["DATABASE_PATH"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing: the opening's audit fails
    try:
        with caplog.at_level(logging.INFO):
            assert client.get(path).status_code == 500
    finally:
        other.execute("ROLLBACK")
        other.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(token not in r.getMessage() for r in caplog.records)
    assert "/report-links/<string:token>/chart.svg" in errors[0].getMessage()
