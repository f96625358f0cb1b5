"""Pieces shared by bench/webhooks.py and tests/e2e/test_webhook_workers.py: a counting
receiver on 127.0.0.1 that verifies every delivery with the `standardwebhooks` package, a
backlog of alert events written through the alert event service, and worker processes."""

import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.services import events
from models import Alert, CareLink, PatientProfile, User, WebhookSubscription

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "whsec_YmVuY2gtd2ViaG9va3Mtc2VjcmV0LTAxMjM0NTY3"  # noqa: S105 - a test receiver's
EVENTS_PER_ALERT = ("alert.raised", "alert.updated", "alert.acknowledged", "alert.resolved")


class CountingReceiver:
    """Counts deliveries by webhook-id, in arrival order; refuses (401) a bad signature."""

    def __init__(self, secret: str = SECRET, delay: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.seen: Counter = Counter()
        self.arrivals: list[tuple[str, dict, float]] = []  # (webhook-id, body, monotonic time)
        self.refused = 0
        verifier = Webhook(secret)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = verifier.verify(body, headers)
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.refused += 1
                    self._answer(401)
                    return
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.seen[headers["webhook-id"]] += 1
                    receiver.arrivals.append((headers["webhook-id"], event, time.monotonic()))
                self._answer(204)

            def _answer(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def distinct(self) -> int:
        with self.lock:
            return len(self.seen)

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.distinct() >= count:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def clinic(db_session: Session, url: str | None, secret: str = SECRET) -> tuple[User, User]:
    """A patient (medically cleared), their therapist, and, given a `url`, the therapist's
    subscription to every alert event."""
    stamp = uuid.uuid4().hex[:12]
    patient = User(
        email=f"fleet-patient-{stamp}@example.org",
        password_hash="!",  # noqa: S106 - never signs in
        role="patient",
        display_name="Fleet patient",
    )
    patient.profile = PatientProfile(medically_cleared_at=date(2020, 1, 1))
    therapist = User(
        email=f"fleet-therapist-{stamp}@example.org",
        password_hash="!",  # noqa: S106
        role="therapist",
        display_name="Fleet therapist",
    )
    db_session.add_all([patient, therapist])
    db_session.flush()
    db_session.add(CareLink(patient_id=patient.id, therapist_id=therapist.id, status="active"))
    if url is not None:
        db_session.add(
            WebhookSubscription(
                owner_id=therapist.id, url=url, events=list(EVENTS_PER_ALERT), secret=secret
            )
        )
    db_session.flush()
    return patient, therapist


def backlog(db_session: Session, patient_id, alerts: int) -> list[str]:
    """`alerts` resolved alerts with their four events each, published as the alert service
    does; returns the event ids."""
    ids = []
    for n in range(alerts):
        alert = Alert(
            patient_id=patient_id,
            rule="post_session_worsening",
            severity="warning",
            severity_rank=2,
            status="open",
            title="Pain rose after a session",
            message="-",
            clinician_message="-",
            recommendation="-",
            evidence={"report_ids": [f"fleet-{n}"]},
            ruleset_version="fleet",
        )
        db_session.add(alert)
        db_session.flush()
        for event_type in EVENTS_PER_ALERT:
            if event_type == "alert.updated":
                alert.occurrences = 2
            alert.status = {"alert.acknowledged": "acknowledged", "alert.resolved": "resolved"}.get(
                event_type, alert.status
            )
            event = events.publish(db_session, event_type, alert)
            ids.append(str(event.id))
        db_session.flush()
    return ids


def start_worker(env: dict, log: Path, idle: str = "0.2") -> subprocess.Popen:
    """`flask --app api webhooks work` as operators run it, polling every `idle` s when idle."""
    with log.open("a") as handle:  # the worker keeps its own copy of the descriptor
        return subprocess.Popen(
            [BIN / "flask", "--app", "api", "webhooks", "work", "--idle", idle],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def in_order(arrivals: list[tuple[str, dict, float]]) -> bool:
    """Every alert's events arrived in the order they happened (first arrival of each)."""
    firsts: dict[str, list[str]] = {}
    seen = set()
    for webhook_id, event, _ in arrivals:
        if webhook_id in seen:
            continue
        seen.add(webhook_id)
        firsts.setdefault(event["data"]["alert_id"], []).append(event["type"])
    return all(types == list(EVENTS_PER_ALERT)[: len(types)] for types in firsts.values())
