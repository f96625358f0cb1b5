"""Alert events through the outbox to a real receiver on 127.0.0.1, signed per Standard
Webhooks and verified with the `standardwebhooks` package; retries, 410, SSRF refusals,
access that ends, ordering, and no event without its committed change."""

import base64
import gc
import hashlib
import hmac
import json
import logging
import socket
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme
import yaml
from openapi_schema_validator import OAS30Validator
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.services import analysis, reports, webhooks
from models import (
    Alert,
    CareLink,
    MassageSession,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from models.webhook import EVENT_TYPES
from tests.api.test_alerts import NEURO_START, _usual_then_raised, _weakness_checkin
from tests.api.test_patient_reports import count_statements
from tests.conftest import ROOT, session_body


class Receiver:
    """An HTTP server on loopback that records each request and answers the queued codes."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.codes: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay)
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "/elsewhere")
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


def _subscribed(client, make, url: str, events: list[str], patient=None):
    """A patient (given, or a new one) linked to a new therapist who subscribes `url` to
    `events`: the patient, the therapist and the subscription as created."""
    patient, therapist = patient or make.user("patient"), make.user("therapist")
    make.link(patient, therapist)
    created = client.post(
        "/v1/webhooks", json={"url": url, "events": events}, headers=make.headers(therapist)
    )
    assert created.status_code == 201, created.get_json()
    return patient, therapist, created.get_json()


@pytest.fixture
def clinic(app, client, make, receiver):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True  # the receiver is on loopback
    return _subscribed(client, make, receiver.url, ["alert.raised", "alert.acknowledged"])


def _drain(app):
    return webhooks.drain(
        app.extensions["db_sessionmaker"], webhooks.Settings.from_config(app.config)
    )


def _the_delivery(db) -> WebhookDelivery:
    """The one delivery, as the worker left it."""
    delivery = db.scalar(select(WebhookDelivery))
    db.refresh(delivery)
    return delivery


def _red_flag(client, make, patient):
    body = session_body(symptoms={"bladder_bowel_change": True})
    resp = client.post("/v1/sessions", json=body, headers=make.headers(patient))
    assert resp.status_code == 201
    return resp.get_json()


def test_a_receiver_written_by_hand_from_the_documented_recipe_verifies_a_delivery(
    app, client, make, clinic, receiver
):
    """A clinic's IT person without the Standard Webhooks library follows the contract's
    words (createWebhook's description), and the delivery verifies."""
    operation = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]["/v1/webhooks"]
    documented = " ".join(operation["post"]["description"].split())
    assert "base64-decoded part of the secret after `whsec_`" in documented
    assert "within 5 minutes" in documented and "space-separated" in documented
    patient, _, subscription = clinic
    _red_flag(client, make, patient)
    _drain(app)
    ((headers, body),) = receiver.requests
    key = base64.b64decode(subscription["secret"].removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1) for part in headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in given)
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 300


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
    delivery = _the_delivery(db)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=8) < wait < timedelta(seconds=12)  # 10 s, with jitter
    assert not any(_drain(app).values())  # not yet due
    db.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))  # the clock moves on
    assert _drain(app)["delivered"] == 1
    db.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]


def _attempts(client, make, user, subscription: dict, delivery_id, status: int = 200):
    resp = client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries/{delivery_id}/attempts",
        headers=make.headers(user),
    )
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_each_attempt_is_kept_in_the_delivery_history_newest_first(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    receiver.codes = [500]
    _red_flag(client, make, patient)
    before = utcnow()
    _drain(app)
    db.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
    _drain(app)
    delivery = _the_delivery(db)
    history = _attempts(client, make, therapist, subscription, delivery.id)
    assert history["next_cursor"] is None
    delivered, failed = history["items"]
    assert (delivered["outcome"], delivered["status_code"], delivered["error"]) == (
        "delivered",
        200,
        None,
    )
    assert (failed["outcome"], failed["status_code"]) == ("retry", 500)
    assert before.isoformat() <= failed["attempted_at"] < delivered["attempted_at"]
    assert all(a["latency_ms"] >= 0 for a in history["items"])
    # A page at a time, as every list.
    first = client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries/{delivery.id}/attempts?limit=1",
        headers=make.headers(therapist),
    ).get_json()
    assert [a["id"] for a in first["items"]] == [delivered["id"]]
    assert first["next_cursor"]


def test_a_delivery_history_is_its_owners_alone(app, client, make, clinic, receiver, db):
    patient, therapist, subscription = clinic
    _red_flag(client, make, patient)
    _drain(app)
    delivery = _the_delivery(db)
    _attempts(client, make, make.user("therapist"), subscription, delivery.id, 404)
    _attempts(client, make, patient, subscription, delivery.id, 403)
    # Another subscription of the owner's does not reach this delivery through its own path.
    other = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "events": ["alert.raised"]},
        headers=make.headers(therapist),
    ).get_json()
    _attempts(client, make, therapist, other, delivery.id, 404)
    _attempts(client, make, therapist, subscription, other["id"], 404)


def test_an_attempt_overtaken_by_a_resend_is_kept_as_superseded(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    receiver.codes = [503]
    _red_flag(client, make, patient)
    factory, settings, _, delivery = _claim_and_renew(app)
    # The attempt outlasts its lease (a stalled worker); the owner re-sends meanwhile.
    db.execute(update(WebhookDelivery).values(leased_until=utcnow() - timedelta(seconds=1)))
    _post(
        client,
        make,
        therapist,
        f"/v1/webhooks/{subscription['id']}/deliveries/{delivery.id}/resend",
        202,
    )
    with webhooks.Sender() as sender:
        attempt = webhooks.send(sender, delivery, settings)
    with factory() as db_session:
        assert webhooks.record(db_session, delivery, attempt, now=utcnow()) == "lost"
    assert _drain(app)["delivered"] == 1
    history = _attempts(client, make, therapist, subscription, delivery.id)["items"]
    assert [(a["outcome"], a["status_code"]) for a in history] == [
        ("delivered", 200),
        ("superseded", 503),
    ]
    # The re-send started the delivery's count again; its history keeps both.
    assert _the_delivery(db).attempts == 1


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
        "http://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the cloud metadata address
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[::ffff:0:7f00:1]/hook",  # SIIT's IPv4-translated 127.0.0.1
        "http://[::ffff:0:a00:5]/hook",  # SIIT's IPv4-translated 10.0.0.5
        # Local-use NAT64 with a /48 prefix: 10.0.0.5, then bits it ignores (8.8.8.8 here).
        "http://[64:ff9b:1:a00:0:500:808:808]/hook",
        "http://[fec0::1]/hook",  # site-local
        "http://[::]/hook",
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
    delivery = _the_delivery(db)
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


def test_a_write_that_changes_two_alerts_finds_the_subscribers_once_and_delivers_both(
    app, client, make, receiver, connection, db
):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    not_cleared = make.user("patient", medically_cleared_at=None)  # a second alert
    patient, _, _ = _subscribed(client, make, receiver.url, ["alert.raised"], not_cleared)
    body = session_body(symptoms={"bladder_bowel_change": True})
    with count_statements(connection) as statements:
        written = client.post("/v1/sessions", json=body, headers=make.headers(patient))
    assert written.status_code == 201
    raised = {alert["rule"] for alert in written.get_json()["alerts"]}
    assert raised == {"red_flag_bladder_bowel", "not_medically_cleared"}
    lookups = [s for s in statements if "FROM webhook_subscriptions" in s]
    assert len(lookups) == 1, statements
    deliveries = db.scalars(
        select(OutboxEvent.type).join(WebhookDelivery, WebhookDelivery.event_id == OutboxEvent.id)
    ).all()
    assert deliveries == ["alert.raised", "alert.raised"]
    assert _drain(app)["delivered"] == 2
    assert sorted(e["data"]["rule"] for e in receiver.events()) == sorted(raised)


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
    analysis.reanalyze(db_session=db, patient=patient, focus=None, corrected=None)
    db.flush()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 1


def _loaded_session(app) -> dict:
    from api.schemas.reports import SessionIn

    with app.test_request_context():
        data = SessionIn().load(session_body())
    data.pop("symptoms")
    return data


def test_a_subscription_is_its_owners_alone(app, client, make, clinic, db):
    patient, _, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    _post(client, make, clinic[1], f"{base}/test", 202)
    delivery_id = db.scalar(select(WebhookDelivery.id))
    actions = [f"{base}/{a}" for a in ("rotate-secret", "pause", "resume", "test")]
    actions.append(f"{base}/deliveries/{delivery_id}/resend")
    before = db.scalar(select(WebhookSubscription.secret))
    for outsider in (make.user("therapist"), make.user("admin")):
        headers = make.headers(outsider)
        assert client.get(base, headers=headers).status_code == 404
        assert client.get(f"{base}/deliveries", headers=headers).status_code == 404
        assert client.delete(base, headers=headers).status_code == 404
        for path in actions:
            assert client.post(path, json={}, headers=headers).status_code == 404, path
        assert client.get("/v1/webhooks", headers=headers).get_json()["items"] == []
    for path in actions:
        assert client.post(path, json={}, headers=make.headers(patient)).status_code == 403
        assert client.post(path, json={}).status_code == 401
    assert client.get(base, headers=make.headers(make.user("patient"))).status_code == 403
    assert client.get(base).status_code == 401
    # Nothing changed: one delivery (the owner's ping), the same secret, still active.
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    assert db.execute(select(WebhookSubscription.secret, WebhookSubscription.status)).one() == (
        before,
        "active",
    )


def _post(client, make, user, path, status):
    resp = client.post(path, json={}, headers=make.headers(user))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_a_rotated_secret_signs_beside_the_old_one_for_its_grace_only(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    old = subscription["secret"]
    rotated = _post(
        client, make, therapist, f"/v1/webhooks/{subscription['id']}/rotate-secret", 200
    )
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    grace = rotated["previous_secret_expires_at"]
    assert timedelta(hours=23) < _parse(grace) - utcnow() <= timedelta(hours=24)
    _red_flag(client, make, patient)
    _drain(app)
    headers, body = receiver.requests[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a receiver on either secret verifies
        assert Webhook(secret).verify(body, headers)["type"] == "alert.raised"
    # The grace ends: only the new secret signs.
    db.execute(update(WebhookSubscription).values(previous_secret_expires_at=utcnow()))
    receiver.requests.clear()
    _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/test", 202)
    _drain(app)
    headers, body = receiver.requests[0]
    assert Webhook(new).verify(body, headers)["type"] == "ping"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)
    assert (
        "secret"
        not in client.get(
            f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist)
        ).get_json()
    )


def _parse(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_alert_reopened_by_an_escalation_and_acknowledged_again_tells_it_again(
    app, client, make, receiver, db
):
    """The second acknowledgement (of the warning the overridden caution became) is a
    change of its own: the clinic's system must not be left with an escalated alert open."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    patient, therapist, _ = _subscribed(client, make, receiver.url, list(EVENT_TYPES))
    headers, clinician = make.headers(patient), make.headers(therapist)
    _, raised = _usual_then_raised(client, headers)
    [caution] = raised["alerts"]
    acknowledge = f"/v1/alerts/{caution['id']}/acknowledge"
    first = {"outcome": "overridden", "reason": "One-grade wobble."}
    assert client.post(acknowledge, json=first, headers=clinician).status_code == 200
    felt = NEURO_START + timedelta(days=5)
    _weakness_checkin(client, headers, felt + timedelta(hours=12), 1)
    [warning] = _weakness_checkin(client, headers, felt + timedelta(hours=24), 1)["alerts"]
    assert (warning["severity"], warning["status"]) == ("warning", "open")
    second = {"outcome": "accepted", "reason": "Sustained: referred to the GP."}
    assert client.post(acknowledge, json=second, headers=clinician).status_code == 200
    for _ in range(3):  # the events of one alert go one after the other
        _drain(app)
    told = [(e["type"], e["data"]["severity"], e["data"]["status"]) for e in receiver.events()]
    assert told[-1] == ("alert.acknowledged", "warning", "acknowledged")
    assert [t for t in told if t[0] == "alert.acknowledged"] == [
        ("alert.acknowledged", "caution", "acknowledged"),
        ("alert.acknowledged", "warning", "acknowledged"),
    ]


def test_a_paused_subscription_holds_its_events_and_resume_delivers_them_in_order(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    assert _post(client, make, therapist, f"{base}/pause", 200)["status"] == "paused"
    written = _red_flag(client, make, patient)
    client.post(
        f"/v1/alerts/{written['alerts'][0]['id']}/acknowledge",
        json={"outcome": "accepted", "reason": "Seen"},
        headers=make.headers(therapist),
    )
    assert not any(_drain(app).values()) and receiver.requests == []
    statuses = db.scalars(select(WebhookDelivery.status)).all()
    assert statuses == ["pending", "pending"]
    assert _post(client, make, therapist, f"{base}/resume", 200)["status"] == "active"
    assert _drain(app)["delivered"] == 2
    assert [e["type"] for e in receiver.events()] == ["alert.raised", "alert.acknowledged"]


@pytest.mark.parametrize("failure", ["three days", "410"])
def test_a_disabled_subscription_holds_other_alerts_and_resume_sends_them_in_order(
    app, client, make, clinic, receiver, db, failure
):
    """One delivery gives up (three days of 503, or a 410): the subscription is disabled,
    but another patient's fresh red flag, and one raised while it is disabled, wait for
    resume instead of being lost, and go out in order once the clinic resumes it."""
    patient, therapist, subscription = clinic
    receiver.codes = [503] if failure == "three days" else [410]
    _red_flag(client, make, patient)
    if failure == "three days":
        db.execute(update(OutboxEvent).values(created_at=utcnow() - timedelta(days=3, minutes=1)))
    fresh, later = make.user("patient"), make.user("patient")
    make.link(fresh, therapist)
    make.link(later, therapist)
    _red_flag(client, make, fresh)
    counts = _drain(app)
    assert (counts["failed"], counts["dropped"], counts["delivered"]) == (1, 0, 0)
    assert db.scalar(select(WebhookSubscription.status)) == "disabled"
    _red_flag(client, make, later)
    assert not any(_drain(app).values())  # held: nothing claimed, nothing sent
    db.expire_all()
    held = db.execute(
        select(OutboxEvent.patient_id, WebhookDelivery.status, WebhookDelivery.attempts)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(OutboxEvent.patient_id.in_([fresh.id, later.id]))
    ).all()
    assert sorted(held) == sorted([(fresh.id, "pending", 0), (later.id, "pending", 0)])
    _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/resume", 200)
    assert _drain(app)["delivered"] == 2
    reached = [e["data"]["patient_id"] for e in receiver.events()]
    assert reached[-2:] == [str(fresh.id), str(later.id)]


def test_resume_brings_back_a_disabled_subscription_and_pause_refuses_it(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    receiver.codes = [410]
    _red_flag(client, make, patient)
    _drain(app)
    refused = client.post(f"{base}/pause", json={}, headers=make.headers(therapist))
    assert refused.status_code == 409
    assert db.scalar(select(WebhookSubscription.status)) == "disabled"
    resumed = _post(client, make, therapist, f"{base}/resume", 200)
    assert (resumed["status"], resumed["disabled_reason"]) == ("active", None)
    _post(client, make, therapist, f"{base}/test", 202)
    assert _drain(app)["delivered"] == 1


def test_a_ping_goes_to_its_subscription_alone_and_matches_the_documented_event(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    other = client.post(
        "/v1/webhooks",
        json={"url": receiver.url + "/other", "events": ["alert.raised"]},
        headers=make.headers(therapist),
    ).get_json()
    queued = _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/test", 202)
    assert (queued["event_type"], queued["status"], queued["alert_id"]) == ("ping", "pending", None)
    _red_flag(client, make, patient)
    assert _drain(app)["delivered"] == 3  # the ping, and the alert to both subscriptions
    by_type = {}
    for headers, body in receiver.requests:
        by_type.setdefault(json.loads(body)["type"], []).append((headers, body))
    ((ping_headers, ping_body),) = by_type["ping"]
    ping = Webhook(subscription["secret"]).verify(ping_body, ping_headers)
    assert ping["data"] == {"event_id": queued["event_id"], "subscription_id": subscription["id"]}
    with pytest.raises(WebhookVerificationError):  # signed for its subscription only
        Webhook(other["secret"]).verify(ping_body, ping_headers)
    assert len(by_type["alert.raised"]) == 2
    # Every body matches WebhookEvent in the committed contract.
    contract = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    schemas = contract["components"]["schemas"]
    validator = OAS30Validator(
        {"$ref": "#/components/schemas/WebhookEvent", "components": {"schemas": schemas}}
    )
    for event in receiver.events():
        errors = [e.message for e in validator.iter_errors(event)]
        assert errors == [], (event, errors)


def test_a_delivery_can_be_sent_again_under_the_same_webhook_id(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    _red_flag(client, make, patient)
    _drain(app)
    base = f"/v1/webhooks/{subscription['id']}/deliveries"
    (delivered,) = client.get(base, headers=make.headers(therapist)).get_json()["items"]
    again = _post(client, make, therapist, f"{base}/{delivered['id']}/resend", 202)
    assert (again["status"], again["attempts"]) == ("pending", 0)
    assert _drain(app)["delivered"] == 1
    first, second = receiver.requests
    assert first[0]["webhook-id"] == second[0]["webhook-id"] == delivered["event_id"]
    stranger = make.user("therapist")
    assert (
        client.post(
            f"{base}/{delivered['id']}/resend", json={}, headers=make.headers(stranger)
        ).status_code
        == 404
    )


def test_the_request_id_of_the_change_follows_its_delivery_into_the_log(
    app, client, make, clinic, receiver, caplog
):
    patient, therapist, subscription = clinic
    resp = client.post(
        "/v1/sessions",
        json=session_body(symptoms={"bladder_bowel_change": True}),
        headers={**make.headers(patient), "X-Request-ID": "phone-sync-42"},
    )
    assert resp.status_code == 201 and resp.headers["X-Request-ID"] == "phone-sync-42"
    with caplog.at_level(logging.INFO, logger="sciatica_care.webhooks"):
        _drain(app)
    (line,) = [r for r in caplog.records if r.name == "sciatica_care.webhooks"]
    assert (line.request_id, line.outcome, line.status_code) == ("phone-sync-42", "delivered", 200)
    listed = client.get(
        f"/v1/webhooks/{subscription['id']}/deliveries", headers=make.headers(therapist)
    ).get_json()["items"]
    assert listed[0]["request_id"] == "phone-sync-42"


def test_the_outbox_the_audit_trail_and_sync_tell_the_same_alert_story(client, make, clinic, db):
    from models import AuditEvent
    from tests.api.test_sync import sync_all

    patient, therapist, _ = clinic
    alert_id = _red_flag(client, make, patient)["alerts"][0]["id"]
    for action, body in (
        ("acknowledge", {"outcome": "accepted", "reason": "Called the patient"}),
        ("resolve", {"note": "Seen by the GP"}),
    ):
        resp = client.post(
            f"/v1/alerts/{alert_id}/{action}", json=body, headers=make.headers(therapist)
        )
        assert resp.status_code == 200, resp.get_json()
    told = [
        (e.type, e.payload["data"]["status"])
        for e in db.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))
    ]
    assert told == [
        ("alert.raised", "open"),
        ("alert.acknowledged", "acknowledged"),
        ("alert.resolved", "resolved"),
    ]
    audited = db.execute(
        select(AuditEvent.action, AuditEvent.request_id)
        .where(AuditEvent.resource_type == "alert", AuditEvent.action.like("alert.%"))
        .where(AuditEvent.action != "alert.read")
        .order_by(AuditEvent.occurred_at)
    ).all()
    # Every change someone made is audited, by the same request as its event.
    assert [a.action for a in audited] == ["alert.acknowledge", "alert.resolve"]
    event_requests = db.scalars(
        select(OutboxEvent.request_id).order_by(OutboxEvent.created_at)
    ).all()
    assert [a.request_id for a in audited] == event_requests[1:]
    assert all(event_requests)
    changes, _ = sync_all(client, make.headers(therapist))
    synced = [c for c in changes if c["type"] == "alert" and c["id"] == alert_id]
    assert [c["data"]["status"] for c in synced] == [told[-1][1]]


def _claim_and_renew(app):
    settings = webhooks.Settings.from_config(app.config)
    factory = app.extensions["db_sessionmaker"]
    with factory() as db_session:
        (claimed,) = webhooks.claim(db_session, now=utcnow(), limit=10, lease=settings.lease)
    with factory() as db_session:
        delivery = webhooks.renew(db_session, claimed, settings.lease)
        db_session.commit()
    return factory, settings, claimed, delivery


def test_changes_made_while_a_delivery_is_in_flight_are_kept(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    _red_flag(client, make, patient)
    factory, settings, _, delivery = _claim_and_renew(app)
    # While it is being sent: the owner rotates and pauses; a re-send is refused.
    new_secret = _post(client, make, therapist, f"{base}/rotate-secret", 200)["secret"]
    _post(client, make, therapist, f"{base}/pause", 200)
    resend = client.post(
        f"{base}/deliveries/{delivery.id}/resend", json={}, headers=make.headers(therapist)
    )
    assert resend.status_code == 409
    with webhooks.Sender() as sender:
        attempt = webhooks.send(sender, delivery, settings)
    with factory() as db_session:
        assert webhooks.record(db_session, delivery, attempt, now=utcnow()) == "delivered"
    stored = db.execute(select(WebhookSubscription.status, WebhookSubscription.secret)).one()
    assert tuple(stored) == ("paused", new_secret)


def test_a_subscription_deleted_while_its_delivery_is_in_flight_stays_deleted(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    _red_flag(client, make, patient)
    factory, settings, _, delivery = _claim_and_renew(app)
    deleted = client.delete(f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist))
    assert deleted.status_code == 204
    with webhooks.Sender() as sender:
        attempt = webhooks.send(sender, delivery, settings)
    with factory() as db_session:
        assert webhooks.record(db_session, delivery, attempt, now=utcnow()) == "lost"
    assert db.scalar(select(func.count()).select_from(WebhookSubscription)) == 0
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_a_lease_that_ran_out_is_not_sent_by_its_old_holder(app, client, make, clinic, db):
    patient, _, _ = clinic
    _red_flag(client, make, patient)
    settings = webhooks.Settings.from_config(app.config)
    factory = app.extensions["db_sessionmaker"]
    with factory() as db_session:
        (slow,) = webhooks.claim(db_session, now=utcnow(), limit=10, lease=settings.lease)
    # The slow worker's lease runs out; another worker claims the delivery.
    later = utcnow() + settings.lease + timedelta(seconds=1)
    with factory() as db_session:
        (taken,) = webhooks.claim(db_session, now=later, limit=10, lease=settings.lease)
    assert taken.id == slow.id and taken.leased_until != slow.leased_until
    with factory() as db_session:
        assert webhooks.renew(db_session, slow, settings.lease) is None
    with factory() as db_session:
        webhooks._release(db_session, [slow])  # nor can it give back the other's claim
    assert db.scalar(select(WebhookDelivery.leased_until)) == taken.leased_until


def test_resume_of_an_active_subscription_keeps_the_retry_schedule(
    app, client, make, clinic, receiver, db
):
    patient, therapist, subscription = clinic
    receiver.codes = [500]
    _red_flag(client, make, patient)
    _drain(app)
    scheduled = db.scalar(select(WebhookDelivery.next_attempt_at))
    _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/resume", 200)
    db.expire_all()
    assert db.scalar(select(WebhookDelivery.next_attempt_at)) == scheduled
    assert db.scalar(select(WebhookDelivery.retry_from)) is None


def test_a_disabled_subscription_takes_no_ping(app, client, make, clinic, db):
    _, therapist, subscription = clinic
    db.execute(update(WebhookSubscription).values(status="disabled", disabled_reason="410"))
    refused = client.post(
        f"/v1/webhooks/{subscription['id']}/test", json={}, headers=make.headers(therapist)
    )
    assert refused.status_code == 409
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_held_deliveries_of_a_deactivated_owner_are_dropped_not_kept_forever(
    app, client, make, clinic, receiver, db
):
    from models import User

    patient, therapist, subscription = clinic
    _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/pause", 200)
    _red_flag(client, make, patient)
    assert client.get("/readyz").get_json()["outbox"]["pending"] == 0  # held, not waiting
    db.execute(update(User).where(User.id == therapist.id).values(deactivated_at=utcnow()))
    assert _drain(app)["dropped"] == 1
    assert db.scalar(select(WebhookDelivery.status)) == "failed"
    assert receiver.requests == []


def test_deleting_a_subscription_removes_its_pings(app, client, make, clinic, db):
    _, therapist, subscription = clinic
    _post(client, make, therapist, f"/v1/webhooks/{subscription['id']}/test", 202)
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 1
    client.delete(f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist))
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_a_redirect_is_not_followed_and_is_retried(app, client, make, clinic, receiver, db):
    patient, _, _ = clinic
    receiver.codes = [302]
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    assert [h.get("host") for h, _ in receiver.requests] == [receiver.url.split("/")[2]]
    assert len(receiver.requests) == 1  # /elsewhere never asked for
    delivery = _the_delivery(db)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_a_receiver_too_slow_to_answer_times_out_and_is_retried(
    app, client, make, clinic, receiver, db, monkeypatch
):
    patient, _, _ = clinic
    monkeypatch.setattr(webhooks, "TIMEOUT", httpx.Timeout(0.3, connect=0.3))  # 10 s for real
    receiver.delay = 1.0
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    delivery = _the_delivery(db)
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == (
        "pending",
        "timeout",
        None,
    )


def test_three_days_of_failures_disable_the_subscription(app, client, make, clinic, receiver, db):
    patient, therapist, subscription = clinic
    receiver.codes = [503]
    _red_flag(client, make, patient)
    db.execute(update(OutboxEvent).values(created_at=utcnow() - timedelta(days=3, minutes=1)))
    assert _drain(app)["failed"] == 1
    shown = client.get(
        f"/v1/webhooks/{subscription['id']}", headers=make.headers(therapist)
    ).get_json()
    assert shown["status"] == "disabled"
    assert "three days" in shown["disabled_reason"] and "HTTP 503" in shown["disabled_reason"]


class Silent:
    """A receiver that takes the connection and the request and never answers (behind a hung
    proxy, or on purpose)."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.server.close()
        for conn in self.held:
            conn.close()


def _hung_and_healthy(client, make, silent, receiver, *, hung: int):
    """`hung` patients of a clinic whose receiver is `silent` raise red flags, then a patient
    of another clinic whose receiver answers: those patients, and that one."""
    first, therapist, _ = _subscribed(client, make, silent.url, ["alert.raised"])
    patients = [first] + [make.user("patient") for _ in range(hung - 1)]
    for patient in patients[1:]:
        make.link(patient, therapist)
    for patient in patients:
        _red_flag(client, make, patient)
    healthy, _, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
    _red_flag(client, make, healthy)
    return patients, healthy


def _deliveries_of(db, patients) -> list[WebhookDelivery]:
    return db.scalars(
        select(WebhookDelivery)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(OutboxEvent.patient_id.in_([p.id for p in patients]))
    ).all()


def test_a_hung_receiver_holds_its_own_deliveries_not_another_clinics_red_flag(
    app, client, make, receiver, db, monkeypatch
):
    """Clinic A's receiver never answers and five of its patients raised red flags; clinic
    B's red flag, raised after them, goes out at once beside A's first attempt, and A's
    other four are put off by the first retry's delay instead of each timing out in turn
    (which made B wait five deadlines, 50 s in production)."""
    monkeypatch.setattr(webhooks, "ATTEMPT_DEADLINE", 1.0)
    silent = Silent()
    try:
        patients, healthy = _hung_and_healthy(client, make, silent, receiver, hung=5)
        arrived = []
        began = time.monotonic()
        receiver.requests = _Stamped(arrived)
        counts = _drain(app)
        took = time.monotonic() - began
    finally:
        silent.close()
    assert [e["data"]["patient_id"] for e in receiver.events()] == [str(healthy.id)]
    assert arrived[0] - began < webhooks.ATTEMPT_DEADLINE
    assert (counts["delivered"], counts["retry"]) == (1, 1) and took < 2.5
    db.expire_all()
    hung_ones = _deliveries_of(db, patients)
    assert sorted(d.attempts for d in hung_ones) == [0, 0, 0, 0, 1]
    soon = utcnow() + timedelta(seconds=5)
    assert all(d.status == "pending" and d.next_attempt_at > soon for d in hung_ones)
    assert all(d.leased_until is None for d in hung_ones)


def test_a_hung_receiver_with_more_than_a_batch_pending_holds_no_later_batch(
    app, client, make, receiver, db, monkeypatch
):
    """More of the hung subscription's deliveries are due than a batch holds: after its
    first attempt without an answer, all of them wait the first retry's delay, so no later
    batch fills with them again and another clinic's red flag waits for none."""
    monkeypatch.setattr(webhooks, "ATTEMPT_DEADLINE", 0.5)
    silent = Silent()
    try:
        patients, healthy = _hung_and_healthy(client, make, silent, receiver, hung=6)
        arrived = []
        receiver.requests = _Stamped(arrived)
        began = time.monotonic()
        counts = webhooks.drain(
            app.extensions["db_sessionmaker"], webhooks.Settings.from_config(app.config), batch=2
        )
    finally:
        silent.close()
    assert arrived and arrived[0] - began < 2 * webhooks.ATTEMPT_DEADLINE
    assert (counts["delivered"], counts["retry"]) == (1, 1)
    db.expire_all()
    waiting = _deliveries_of(db, patients)
    assert sorted(d.attempts for d in waiting) == [0, 0, 0, 0, 0, 1]
    assert all(d.next_attempt_at > utcnow() + timedelta(seconds=5) for d in waiting)


def test_an_error_recording_one_attempt_still_records_the_others(
    app, client, make, receiver, db, monkeypatch
):
    """The database fails while one attempt is recorded: the other attempt in flight, which
    reached its receiver, is still recorded as delivered (it would be sent again once its
    lease ran out), and then the error is raised."""
    first, _, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
    second, _, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
    _red_flag(client, make, first)
    _red_flag(client, make, second)
    receiver.delay = 0.3
    real_record, calls = webhooks.record, []

    def record(*args, **kwargs):  # the first recording meets a database error (an edge)
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE webhook_deliveries", {}, Exception("locked"))
        return real_record(*args, **kwargs)

    monkeypatch.setattr(webhooks, "record", record)
    with pytest.raises(OperationalError):
        _drain(app)
    assert len(receiver.requests) == 2
    db.expire_all()
    statuses = sorted(d.status for d in db.scalars(select(WebhookDelivery)))
    assert statuses == ["delivered", "pending"]
    assert db.scalar(select(func.count()).select_from(WebhookAttempt)) == 1


def test_subscriptions_take_turns_for_a_free_sender(app, client, make, receiver, db):
    """With one sender free, two subscriptions with two deliveries each are served in turn
    (A, B, A, B): one with a long queue does not keep the slot while another waits."""
    first, first_therapist, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
    second, second_therapist, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
    patients = {first_therapist.id: [first], second_therapist.id: [second]}
    for therapist in (first_therapist, second_therapist):
        other = make.user("patient")
        make.link(other, therapist)
        patients[therapist.id].append(other)
    for group in patients.values():
        for patient in group:
            _red_flag(client, make, patient)
    counts = webhooks.drain(
        app.extensions["db_sessionmaker"], webhooks.Settings.from_config(app.config), senders=1
    )
    assert counts["delivered"] == 4
    owner = {str(p.id): t for t, group in patients.items() for p in group}
    served = [owner[e["data"]["patient_id"]] for e in receiver.events()]
    assert served[0] != served[1] and served[2] != served[3] and served[1] != served[2]


class _Stamped(list):
    """The receiver's requests, with the moment each arrived."""

    def __init__(self, arrived: list):
        super().__init__()
        self.arrived = arrived

    def append(self, item):
        self.arrived.append(time.monotonic())
        super().append(item)


class Trickler:
    """A receiver that answers one byte at a time: within every per-read timeout, forever."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    @staticmethod
    def _trickle(conn):
        with conn:
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                    conn.send(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                pass


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_attempt_deadline(
    app, client, make, monkeypatch, db
):
    monkeypatch.setattr(webhooks, "ATTEMPT_DEADLINE", 0.6)  # 10 s for real
    trickler = Trickler()
    patient, _, _ = _subscribed(client, make, trickler.url, ["alert.raised"])
    _red_flag(client, make, patient)
    began = time.monotonic()
    assert _drain(app)["retry"] == 1
    assert time.monotonic() - began < 3  # the answer alone would take 8 s
    delivery = _the_delivery(db)
    assert (delivery.status, delivery.last_error) == ("pending", "timeout")
    trickler.server.close()


def test_the_readme_receiver_verifies_our_deliveries_and_pages_once(
    app, client, make, clinic, monkeypatch, capsys
):
    """The receiver printed in README.md, run as written, against a real signed delivery."""
    patient, _, subscription = clinic
    text = (ROOT / "README.md").read_text()
    start = text.index("```python\nimport os\n") + len("```python\n")
    source = text[start : text.index("```", start)]
    monkeypatch.setenv("WEBHOOK_SECRET", subscription["secret"])
    namespace: dict = {"__name__": "__main__"}  # Flask finds a root path for it
    exec(compile(source, "README.md receiver", "exec"), namespace)  # noqa: S102 - our own README
    receiver = namespace["app"].test_client()
    _red_flag(client, make, patient)
    delivery = app.extensions["db_sessionmaker"]().scalars(select(WebhookDelivery)).one()
    body, headers = webhooks.signed_request(delivery.event, delivery.subscription, utcnow())
    answers = [receiver.post("/sciatica", data=body, headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [204, 204]
    paged = [line for line in capsys.readouterr().out.splitlines() if line.startswith("alert.")]
    assert paged == [f"alert.raised urgent red_flag_bladder_bowel {delivery.event.alert_id}"]
    forged = {**headers, "webhook-signature": "v1,bm90IG91cnM="}
    assert receiver.post("/sciatica", data=body, headers=forged).status_code == 400


# ---- the address a delivery reaches --------------------------------------------------------

PUBLIC = "93.184.216.34"


class FakeDNS:
    """The name servers (an edge): `answers` in turn for `name` (the last one kept), other
    names as the machine resolves them; each lookup counted, optionally slow."""

    def __init__(self, monkeypatch, name: str, answers: list, delay: float = 0.0):
        self.name, self.answers, self.delay, self.lookups = name, list(answers), delay, 0
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host != self.name:
                return real(host, port, *args, **kwargs)
            self.lookups += 1
            time.sleep(self.delay)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            if answer is None:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            addresses = answer if isinstance(answer, list) else [answer]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_creating_a_subscription_waits_for_its_name_a_bounded_time(app, client, make, monkeypatch):
    """Name servers that never answer do not hold a request worker: past the lookup's
    deadline the URL is refused as one that does not resolve to a public address, and
    nothing is created."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    monkeypatch.setattr(webhooks, "LOOKUP_DEADLINE", 0.3)
    FakeDNS(monkeypatch, "hooks.slow.example", ["93.184.216.34"], delay=3)
    therapist = make.user("therapist")
    began = time.monotonic()
    resp = client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.slow.example/hook", "events": ["alert.raised"]},
        headers=make.headers(therapist),
    )
    assert time.monotonic() - began < 2
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert "public address" in resp.get_json()["detail"]
    listed = client.get("/v1/webhooks", headers=make.headers(therapist)).get_json()
    assert listed["items"] == []


@pytest.fixture
def no_public_internet(monkeypatch):
    """Connections to PUBLIC (an outbound edge) are refused and recorded; loopback ones are
    made for real."""
    tried, real = [], socket.create_connection

    def create_connection(address, *args, **kwargs):
        if address[0] == PUBLIC:
            tried.append(address)
            raise ConnectionRefusedError(111, "Connection refused")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return tried


def test_a_name_that_turns_private_after_its_check_is_not_reached(
    app, client, make, receiver, monkeypatch, no_public_internet, db
):
    """DNS rebinding: the name answers a public address to the checks, then the receiver's
    loopback address. The delivery connects to the address it checked, never to a second
    answer, so the clinic's network stays out of reach."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    port = receiver.server.server_address[1]
    dns = FakeDNS(monkeypatch, "hooks.rebind.example", [PUBLIC, PUBLIC, "127.0.0.1"])
    url = f"http://hooks.rebind.example:{port}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])  # checked: public
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    assert receiver.requests == []
    assert no_public_internet == [(PUBLIC, port)]  # the one address checked, and no other
    assert dns.lookups == 2  # one at creation, one for the attempt
    delivery = _the_delivery(db)
    assert delivery.last_error == "ConnectError: connection failed"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest",
        "http://100.100.100.200/latest",
        # The same addresses written in IPv6 forms a gateway turns back into IPv4.
        "http://[64:ff9b::a9fe:a9fe]/latest",
        "http://[::ffff:0:a9fe:a9fe]/latest",
        "http://[::a9fe:a9fe]/latest",
        "http://[2002:a9fe:a9fe::1]/latest",
        "http://[::ffff:0:6464:64c8]/latest",
    ],
)
def test_cloud_metadata_is_never_a_receiver_even_where_private_ones_are_allowed(
    app, client, make, db, url
):
    """A clinic that allows receivers on its own network does not open the server's
    instance metadata (its credentials) with them."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    resp = client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["alert.raised"]},
        headers=make.headers(make.user("therapist")),
    )
    assert resp.status_code == 422 and "metadata" in resp.get_json()["errors"]["url"][0]
    assert db.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_a_name_that_resolves_to_a_metadata_address_is_not_reached(
    app, client, make, receiver, monkeypatch, db
):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    FakeDNS(monkeypatch, "hooks.clinic.lan", ["169.254.169.254"])
    patient, _, _ = _subscribed(client, make, "http://hooks.clinic.lan/hook", ["alert.raised"])
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    assert _the_delivery(db).last_error.startswith("refused: The URL's host is a link-local")


def test_a_name_at_a_metadata_address_is_refused_like_any_internal_name(app, client, make):
    """Where private receivers are not allowed, a name at a metadata address gets the one
    answer every internal or unknown name gets: no probing which internal names exist."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    table = {"metadata.google.internal": "169.254.169.254", "db.clinic.lan": "10.0.0.5"}
    real = socket.getaddrinfo

    def answers(host, port, *args, **kwargs):
        if host.endswith((".internal", ".lan")):
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    therapist = make.user("therapist")
    details = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", answers)
        for host in ("metadata.google.internal", "db.clinic.lan", "nothing.clinic.lan"):
            resp = client.post(
                "/v1/webhooks",
                json={"url": f"https://{host}/hook", "events": ["alert.raised"]},
                headers=make.headers(therapist),
            )
            assert resp.status_code == 422
            details.add(resp.get_json()["errors"]["url"][0])
    assert details == {webhooks.NOT_PUBLIC}


def test_a_delivery_names_its_host_to_the_address_it_reaches(
    app, client, make, clinic, receiver, monkeypatch
):
    """Connected to the address the name resolved to, the request still carries the URL's
    host (Host header; for https the TLS name too)."""
    port = receiver.server.server_address[1]
    FakeDNS(monkeypatch, "hooks.clinic.example", ["127.0.0.1"])
    url = f"http://hooks.clinic.example:{port}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])
    _red_flag(client, make, patient)
    assert _drain(app)["delivered"] >= 1
    hosts = {headers["host"] for headers, _ in receiver.requests}
    assert f"hooks.clinic.example:{port}" in hosts


def test_each_address_of_the_name_is_tried_in_turn(
    app, client, make, clinic, receiver, monkeypatch
):
    """A name with several addresses, the first not listening (an IPv6 record on a host
    without IPv6, say): the next one checked is tried, as a client connecting by name would."""
    port = receiver.server.server_address[1]
    FakeDNS(monkeypatch, "hooks.twice.example", [["127.0.0.2", "127.0.0.1"]])
    url = f"http://hooks.twice.example:{port}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])
    _red_flag(client, make, patient)
    assert _drain(app)["delivered"] >= 1
    assert any(h["host"] == f"hooks.twice.example:{port}" for h, _ in receiver.requests)


def test_an_unknown_name_and_a_private_one_are_refused_alike(app, client, make, monkeypatch):
    """A therapist must not learn which of the clinic's internal names exist."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    FakeDNS(monkeypatch, "intranet.clinic.example", ["10.1.2.3"])
    therapist = make.user("therapist")
    answers = [
        client.post(
            "/v1/webhooks",
            json={"url": f"https://{host}/hook", "events": ["alert.raised"]},
            headers=make.headers(therapist),
        )
        for host in ("intranet.clinic.example", "no-such-host.invalid")
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].get_json()["errors"] == answers[1].get_json()["errors"]


def _behind_a_deadline(app, client, make, receiver, monkeypatch, name: str, *, lookup: float):
    """A patient whose therapist subscribes the receiver under `name`, which takes `lookup`
    seconds to resolve, with attempts cut at 0.5 s (10 s for real)."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    monkeypatch.setattr(webhooks, "ATTEMPT_DEADLINE", 0.5)
    url = f"http://{name}:{receiver.server.server_address[1]}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])
    FakeDNS(monkeypatch, name, ["127.0.0.1"], delay=lookup)
    return patient


def test_a_lookup_that_outlasts_the_deadline_ends_the_attempt_and_sends_nothing(
    app, client, make, receiver, monkeypatch, db
):
    patient = _behind_a_deadline(
        app, client, make, receiver, monkeypatch, "hooks.slow.example", lookup=1.5
    )
    _red_flag(client, make, patient)
    began = time.monotonic()
    assert _drain(app)["retry"] == 1
    assert time.monotonic() - began < 1.4  # the lookup alone takes 1.5 s
    time.sleep(1.5)  # the lookup has returned meanwhile
    assert receiver.requests == []
    delivery = _the_delivery(db)
    assert delivery.last_error == "timeout"


class Flood:
    """A receiver that answers 200 with a body of 100 MB: how much of it was taken."""

    SIZE = 100 * 1024 * 1024

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.sent = 0
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.SIZE}\r\n\r\n".encode())
            chunk = b"x" * (1024 * 1024)
            try:
                while self.sent < self.SIZE:
                    self.sent += conn.send(chunk)
            except OSError:
                pass
        self.done.set()


def test_the_answers_body_is_never_read(app, client, make, db):
    """A receiver answering with a huge body must not fill the worker's memory."""
    flood = Flood()
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    patient, _, _ = _subscribed(client, make, flood.url, ["alert.raised"])
    _red_flag(client, make, patient)
    assert _drain(app)["delivered"] == 1
    assert flood.done.wait(10)
    assert flood.sent < Flood.SIZE / 4  # the worker hung up after the status line
    flood.server.close()


def test_a_retried_action_with_its_key_is_done_once(app, client, make, clinic, db):
    """A console that lost the answer of a rotation or a ping sends it again with the same
    Idempotency-Key: the secret rotates once (the receiver's secret keeps its grace) and
    one ping is queued."""
    _, therapist, subscription = clinic
    base = f"/v1/webhooks/{subscription['id']}"
    answers = {}
    for path, status in (("rotate-secret", 200), ("test", 202)):
        headers = make.headers(therapist, **{"Idempotency-Key": f"{path}-1"})
        first, again = (client.post(f"{base}/{path}", json={}, headers=headers) for _ in "12")
        assert (first.status_code, again.status_code) == (status, status)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.get_json() == first.get_json()
        answers[path] = first.get_json()
    stored = db.scalar(select(WebhookSubscription))
    db.refresh(stored)
    assert (stored.secret, stored.previous_secret) == (
        answers["rotate-secret"]["secret"],
        subscription["secret"],
    )
    pings = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "ping")
    assert db.scalar(pings) == 1


@pytest.fixture
def tls_receiver(monkeypatch, tmp_path):
    """A receiver on 127.0.0.1 serving TLS with a certificate for `hooks.tls.example` from a
    test authority the worker trusts (SSL_CERT_FILE), and one for another name."""
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "authority.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "authority.pem"))
    servers = {}
    for name in ("hooks.tls.example", "other.example"):
        server = Receiver()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert(name).configure_cert(context)
        server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
        servers[name] = server
    FakeDNS(monkeypatch, "hooks.tls.example", ["127.0.0.1"])
    yield servers
    for server in servers.values():
        server.close()


@pytest.mark.parametrize(
    ("certified", "reached"), [("hooks.tls.example", True), ("other.example", False)]
)
def test_an_https_receiver_reached_by_address_is_verified_under_its_name(
    app, client, make, tls_receiver, certified, reached, db
):
    """Connected to the address it checked, the attempt still verifies the receiver's
    certificate against the URL's host (the TLS name sent is that host, not the address)."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    receiver = tls_receiver[certified]
    url = f"https://hooks.tls.example:{receiver.server.server_address[1]}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])
    _red_flag(client, make, patient)
    outcome = _drain(app)
    assert outcome["delivered" if reached else "retry"] == 1
    assert len(receiver.requests) == (1 if reached else 0)
    if not reached:
        delivery = _the_delivery(db)
        assert delivery.last_error == "ConnectError: connection failed"


def test_a_connection_still_being_made_at_the_deadline_sends_nothing(
    app, client, make, receiver, monkeypatch, db
):
    """The lookup ends within the deadline, the connection only after it (a far receiver,
    a lost SYN): the attempt is a timeout, and the request is never sent."""
    patient = _behind_a_deadline(
        app, client, make, receiver, monkeypatch, "hooks.far.example", lookup=0.2
    )
    real = socket.create_connection

    def slow_connection(address, *args, **kwargs):  # the network (an edge): 1 s to connect
        time.sleep(1.0)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", slow_connection)
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    time.sleep(1.5)  # the connection has been made meanwhile
    assert receiver.requests == []
    delivery = _the_delivery(db)
    assert delivery.last_error == "timeout"


def test_a_handshake_ending_after_the_deadline_is_closed_unused(
    app, client, make, monkeypatch, tmp_path
):
    """An https receiver slow to finish its TLS handshake: past the deadline the connection
    is closed (no socket left behind: the suite fails on a ResourceWarning) and nothing is
    sent over it."""
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "authority.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "authority.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("hooks.tls.example").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():  # 1 s before the handshake
        conn, _ = listener.accept()
        time.sleep(1.0)
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(3)
            received.append(tls.recv(65536))

    server = threading.Thread(target=serve)
    server.start()
    FakeDNS(monkeypatch, "hooks.tls.example", ["127.0.0.1"])
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    monkeypatch.setattr(webhooks, "ATTEMPT_DEADLINE", 0.5)  # 10 s for real
    url = f"https://hooks.tls.example:{listener.getsockname()[1]}/hooks/alerts"
    patient, _, _ = _subscribed(client, make, url, ["alert.raised"])
    _red_flag(client, make, patient)
    assert _drain(app)["retry"] == 1
    server.join(5)
    listener.close()
    gc.collect()  # a socket left open would be reported here
    assert received == [b""]  # closed by the worker, with no request
