"""Alert events through the outbox to a real receiver on 127.0.0.1, signed per Standard
Webhooks and verified with the `standardwebhooks` package; retries, 410, SSRF refusals,
access that ends, ordering, and no event without its committed change."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook

from api.services import analysis, reports, webhooks
from models import (
    Alert,
    CareLink,
    MassageSession,
    OutboxEvent,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from tests.conftest import session_body


class Receiver:
    """An HTTP server on loopback that records each request and answers the queued codes."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.codes: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.codes.pop(0) if receiver.codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def clinic(app, client, make, receiver):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True  # the receiver is on loopback
    patient, therapist = make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    created = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["alert.raised", "alert.acknowledged"]},
        headers=make.headers(therapist),
    )
    assert created.status_code == 201, created.get_json()
    return patient, therapist, created.get_json()


def _drain(app):
    return webhooks.drain(
        app.extensions["db_sessionmaker"], webhooks.Settings.from_config(app.config)
    )


def _red_flag(client, make, patient):
    body = session_body(symptoms={"bladder_bowel_change": True})
    resp = client.post("/v1/sessions", json=body, headers=make.headers(patient))
    assert resp.status_code == 201
    return resp.get_json()


def test_a_red_flag_reaches_the_receiver_signed_within_one_worker_pass(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    assert subscription["secret"].startswith("whsec_")
    written = _red_flag(client, make, patient)
    assert _drain(app)["delivered"] == 1
    ((headers, body),) = receiver.requests
    event = Webhook(subscription["secret"]).verify(body, headers)
    assert event["type"] == "alert.raised"
    data = event["data"]
    assert data["rule"] == "red_flag_bladder_bowel" and data["severity"] == "urgent"
    assert data["alert_id"] == written["alerts"][0]["id"] and data["patient_id"] == str(patient.id)
    assert headers["webhook-id"] == data["event_id"]
    # Thin: nothing of what the patient reported.
    for word in ("pain", "symptom", "notes", "bladder", "numbness"):
        assert word not in body.decode().replace("red_flag_bladder_bowel", "")
    listed = client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries", headers=make.headers(therapist)
    ).get_json()["items"]
    assert [
        (d["event_type"], d["status"], d["attempts"], d["last_status_code"]) for d in listed
    ] == [("alert.raised", "delivered", 1, 200)]
    assert (
        "secret"
        not in client.get(
            f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist)
        ).get_json()
    )
    # Acknowledged: the next pass delivers that too, under another id.
    alert_id = written["alerts"][0]["id"]
    ack = client.post(
        f"/v1/alerts/{alert_id}/acknowledge",
        json={"outcome": "accepted", "reason": "Called the patient"},
        headers=make.headers(therapist),
    )
    assert ack.status_code == 200
    _drain(app)
    second = Webhook(subscription["secret"]).verify(
        receiver.requests[1][1], receiver.requests[1][0]
    )
    assert second["type"] == "alert.acknowledged" and second["data"]["status"] == "acknowledged"
    assert receiver.requests[1][0]["webhook-id"] != headers["webhook-id"]


def test_a_failing_receiver_is_retried_with_back_off_and_each_attempt_recorded(
    app, client, make, clinic, receiver, db
):
    patient, _, _ = clinic
    receiver.codes = [500]
    _red_flag(client, make, patient)
    before = utcnow()
    assert _drain(app)["retry"] == 1
    delivery = db.scalar(select(WebhookDelivery))
    db.refresh(delivery)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=8) < wait < timedelta(seconds=12)  # 10 s, with jitter
    assert _drain(app) == {"delivered": 0, "retry": 0, "failed": 0, "dropped": 0}  # not yet due
    db.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))  # the clock moves on
    assert _drain(app)["delivered"] == 1
    db.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]


def test_410_gone_disables_the_subscription_and_says_why(app, client, make, clinic, receiver, db):
    patient, therapist, subscription = clinic
    receiver.codes = [410]
    _red_flag(client, make, patient)
    assert _drain(app)["failed"] == 1
    shown = client.get(
        f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist)
    ).get_json()
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]
    _red_flag(client, make, patient)  # a later alert: no delivery for a disabled subscription
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "ftp://example.org/hook",
        "http://user:pass@example.org/hook",
    ],
)
def test_private_and_odd_urls_are_refused_at_creation(app, client, make, db, url):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    therapist = make.user("therapist")
    resp = client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["alert.raised"]},
        headers=make.headers(therapist),
    )
    assert resp.status_code == 422 and "url" in resp.get_json()["errors"]
    assert db.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_production_accepts_only_https(app, client, make):
    app.config["WEBHOOKS_ALLOW_PRIVATE"], app.config["WEBHOOKS_REQUIRE_HTTPS"] = True, True
    resp = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1/hook", "events": ["alert.raised"]},
        headers=make.headers(make.user("therapist")),
    )
    assert resp.status_code == 422


def test_the_url_is_checked_again_at_delivery(app, client, make, clinic, receiver, db):
    patient, _, _ = clinic
    _red_flag(client, make, patient)
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False  # as if its DNS now pointed inside
    assert _drain(app)["retry"] == 1
    assert receiver.requests == []
    delivery = db.scalar(select(WebhookDelivery))
    db.refresh(delivery)
    assert delivery.last_error.startswith("refused:")


def test_an_ended_care_link_stops_that_patients_events_at_once(
    app, client, make, clinic, receiver, db
):
    patient, _, _ = clinic
    _red_flag(client, make, patient)  # pending, not yet delivered
    link = db.scalar(select(CareLink).where(CareLink.patient_id == patient.id))
    assert (
        client.delete(f"/v1/care-links/{link.id}", headers=make.headers(patient)).status_code == 204
    )
    _red_flag(client, make, patient)
    assert _drain(app)["dropped"] == 1
    assert receiver.requests == []
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_events_of_one_alert_arrive_in_order(app, client, make, clinic, receiver):
    patient, therapist, subscription = clinic
    receiver.codes = [500]
    written = _red_flag(client, make, patient)
    client.post(
        f"/v1/alerts/{written['alerts'][0]['id']}/acknowledge",
        json={"outcome": "accepted", "reason": "Seen"},
        headers=make.headers(therapist),
    )
    _drain(app)  # raised fails; acknowledged waits behind it
    assert [e["type"] for e in receiver.events()] == ["alert.raised"]


def test_a_rolled_back_write_leaves_no_event_and_a_rerun_makes_none(app, make, clinic, db):
    patient, _, _ = clinic
    nested = db.begin_nested()
    reports.create(
        db_session=db,
        user=patient,
        model=MassageSession,
        data={**_loaded_session(app), "symptoms": {"bladder_bowel_change": True}},
    )
    db.flush()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 1
    nested.rollback()
    assert db.scalar(select(func.count()).select_from(Alert)) == 0
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    reports.create(
        db_session=db,
        user=patient,
        model=MassageSession,
        data={**_loaded_session(app), "symptoms": {"bladder_bowel_change": True}},
    )
    db.flush()
    analysis.reanalyze(db_session=db, patient=patient, focus=None)
    db.flush()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 1


def _loaded_session(app) -> dict:
    from api.schemas.reports import SessionIn

    with app.test_request_context():
        data = SessionIn().load(session_body())
    data.pop("symptoms")
    return data


def test_a_subscription_is_its_owners_alone(client, make, clinic):
    _, _, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    for outsider in (make.user("therapist"), make.user("admin")):
        headers = make.headers(outsider)
        assert client.get(base, headers=headers).status_code == 404
        assert client.get(f"{base}/deliveries", headers=headers).status_code == 404
        assert client.delete(base, headers=headers).status_code == 404
        assert client.get("/v1/webhooks", headers=headers).get_json()["items"] == []
    assert client.get(base, headers=make.headers(make.user("patient"))).status_code == 403
    assert client.get(base).status_code == 401
