"""CLI: accounts, care links, tombstone purge and the demo clinic."""

import os
import signal
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

import analyzer
from api.services.passwords import verify_password
from models import Alert, AuditEvent, CareLink, CheckIn, MassageSession, User, utcnow
from tests.conftest import session_body


def _create(runner, email: str, role: str, password: str):
    args = ["users", "create", "--email", email, "--role", role, "--name", "Someone"]
    return runner.invoke(args=args, input=f"{password}\n")


def test_users_create_makes_a_therapist_with_the_password_from_stdin_audited(app, db):
    result = _create(app.test_cli_runner(), "T@Clinic.org", "therapist", "long enough pass")
    assert result.exit_code == 0, result.output
    user = db.scalar(select(User).where(User.email == "t@clinic.org"))
    assert user.role == "therapist" and verify_password(user.password_hash, "long enough pass")
    [event] = db.scalars(select(AuditEvent)).all()
    assert (event.action, event.resource_id, event.status) == ("user.create", str(user.id), 201)
    assert (event.actor_id, event.actor_role) == (None, None)  # the operator's command line


def test_users_create_refuses_short_password_and_duplicates(app, db):
    runner = app.test_cli_runner()
    short = _create(runner, "a@b.org", "admin", "short")
    assert short.exit_code != 0 and db.scalar(select(User)) is None
    assert _create(runner, "a@b.org", "admin", "long enough pass").exit_code == 0
    again = _create(runner, "a@b.org", "admin", "long enough pass")
    assert again.exit_code != 0 and "already exists" in again.output
    # Said before the password is read: a short one is not what the operator hears about.
    taken = _create(runner, "A@B.org", "therapist", "short")
    assert taken.exit_code != 0 and "already exists" in taken.output
    assert "password" not in taken.output
    assert db.scalar(select(func.count()).select_from(User)) == 1


def test_users_create_refuses_what_the_api_would_before_asking_for_a_password(app, db):
    runner = app.test_cli_runner()
    args = ["users", "create", "--role", "therapist"]
    bad_email = runner.invoke(args=[*args, "--email", "bad-email", "--name", "A"], input="x\n")
    assert bad_email.exit_code != 0 and "email: Not a valid email address." in bad_email.output
    blank = runner.invoke(args=[*args, "--email", "a@b.org", "--name", "  "], input="x\n")
    assert blank.exit_code != 0 and "display_name: Must not be blank." in blank.output
    assert db.scalar(select(User)) is None


def test_passwords_are_never_taken_from_the_command_line(app, db):
    args = ["users", "create", "--email", "a@b.org", "--role", "admin", "--name", "A"]
    result = app.test_cli_runner().invoke(args=[*args, "--password", "long enough pass"])
    assert result.exit_code != 0 and "No such option" in result.output
    assert db.scalar(select(User)) is None


def test_users_list_shows_every_account_with_its_state(app, db, make):
    patient = make.user("patient", email="p@x.org")
    make.user("therapist", email="t@x.org")
    patient.deactivated_at = utcnow()
    db.flush()
    result = app.test_cli_runner().invoke(args=["users", "list"])
    lines = result.output.splitlines()
    assert result.exit_code == 0
    assert [line.split()[:3] for line in lines] == [
        ["p@x.org", "patient", "deactivated"],
        ["t@x.org", "therapist", "active"],
    ]
    only = app.test_cli_runner().invoke(args=["users", "list", "--role", "therapist"])
    assert only.output.split()[:1] == ["t@x.org"]


def test_set_password_replaces_it_and_ends_every_session(app, db, client):
    runner = app.test_cli_runner()
    assert _create(runner, "p@x.org", "patient", "first password").exit_code == 0
    tokens = client.post(
        "/v1/auth/token", json={"email": "p@x.org", "password": "first password"}
    ).get_json()
    result = runner.invoke(args=["users", "set-password", "P@x.org"], input="second password\n")
    assert result.exit_code == 0, result.output
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/v1/me", headers=bearer).status_code == 401
    refreshed = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    for password, status in (("first password", 401), ("second password", 200)):
        login = client.post("/v1/auth/token", json={"email": "p@x.org", "password": password})
        assert login.status_code == status
    unknown = runner.invoke(args=["users", "set-password", "no@x.org"], input="whatever pass\n")
    assert unknown.exit_code != 0 and "no account" in unknown.output


def test_deactivate_and_reactivate_from_the_command_line(app, db, client):
    runner = app.test_cli_runner()
    assert _create(runner, "p@x.org", "patient", "a good password").exit_code == 0
    login = {"email": "p@x.org", "password": "a good password"}
    access = client.post("/v1/auth/token", json=login).get_json()["access_token"]
    assert runner.invoke(args=["users", "deactivate", "p@x.org"]).exit_code == 0
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401
    assert client.post("/v1/auth/token", json=login).status_code == 401
    assert runner.invoke(args=["users", "reactivate", "p@x.org"]).exit_code == 0
    assert client.post("/v1/auth/token", json=login).status_code == 200
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "user.deactivate" in actions and "user.reactivate" in actions


def test_care_links_create_list_and_end(app, db, make, client):
    patient = make.user("patient", email="p@x.org")
    therapist = make.user("therapist", email="t@x.org")
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["care-links", "create", "--patient", "p@x.org", "--therapist", "T@x.org"]
    )
    assert created.exit_code == 0, created.output
    link = db.scalar(select(CareLink))
    assert (link.patient_id, link.therapist_id, link.status) == (patient.id, therapist.id, "active")
    assert client.get("/v1/patients", headers=make.headers(therapist)).get_json()["items"]
    listed = runner.invoke(args=["care-links", "list", "--email", "t@x.org"])
    assert listed.output.split() == [str(link.id), "p@x.org", "->", "t@x.org", "active"]
    wrong = runner.invoke(
        args=["care-links", "create", "--patient", "t@x.org", "--therapist", "t@x.org"]
    )
    assert wrong.exit_code != 0 and "not a patient" in wrong.output
    ended = runner.invoke(args=["care-links", "end", str(link.id)])
    assert ended.exit_code == 0, ended.output
    db.refresh(link)
    assert link.status == "ended"
    assert client.get("/v1/patients", headers=make.headers(therapist)).get_json()["items"] == []
    assert runner.invoke(args=["care-links", "list", "--status", "active"]).output == ""
    missing = runner.invoke(args=["care-links", "end", str(uuid.uuid4())])
    assert missing.exit_code != 0 and "No such care link" in missing.output


def _purges(db) -> list[tuple]:
    db.expire_all()
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "tombstones.purge"))
    return [(e.actor_id, e.resource_type, e.row_count) for e in events]


def test_purge_tombstones_dry_run_changes_nothing_and_a_purge_is_audited(app, db, make, client):
    patient = make.user("patient")
    created = client.post("/v1/sessions", json=session_body(), headers=make.headers(patient))
    gone = client.delete(f"/v1/sessions/{created.get_json()['id']}", headers=make.headers(patient))
    assert gone.status_code == 204
    db.execute(update(MassageSession).values(deleted_at=utcnow() - timedelta(days=400)))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge-tombstones", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith("would remove 1 tombstones")
    assert db.scalar(select(func.count()).select_from(MassageSession)) == 1
    assert _purges(db) == []
    real = runner.invoke(args=["purge-tombstones"])
    assert real.output.startswith("removed 1 tombstones")
    assert db.scalar(select(func.count()).select_from(MassageSession)) == 0
    assert _purges(db) == [(None, "tombstone", 1)]


def test_seed_demo_builds_a_living_clinic_once(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "therapist@demo.clinic" in first.output
    counts = [
        db.scalar(select(func.count()).select_from(m))
        for m in (User, CareLink, MassageSession, CheckIn)
    ]
    assert counts[0] == 5 and counts[1] == 4 and counts[2] == 16 and counts[3] == 14
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    again = [
        db.scalar(select(func.count()).select_from(m))
        for m in (User, CareLink, MassageSession, CheckIn)
    ]
    assert again == counts


def test_demo_logins_work(app, client):
    output = app.test_cli_runner().invoke(args=["seed-demo"]).output
    line = next(row for row in output.splitlines() if "therapist@demo.clinic" in row)
    _, email, password = line.split()
    resp = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert resp.status_code == 200
    token = resp.get_json()["access_token"]
    sessions = client.get("/v1/sessions?limit=200", headers={"Authorization": f"Bearer {token}"})
    assert len(sessions.get_json()["items"]) == 16
    # Each demo patient reads as their name says in the therapist's list.
    patients = client.get("/v1/patients", headers={"Authorization": f"Bearer {token}"})
    trends = {p["display_name"]: p["trend"] for p in patients.get_json()["items"]}
    assert trends["Demo patient A (improving)"] == "improving"
    assert trends["Demo patient B (worsening)"] == "worsening"


def test_demo_data_shows_every_rule_at_least_once(app, db):
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    assert set(db.scalars(select(Alert.rule))) == set(analyzer.RULES)


def test_the_webhook_worker_outlives_a_database_error(app, make, client, monkeypatch):
    """The database fails under the worker once (restarting, or locked past its timeout):
    it waits and delivers on its next pass instead of exiting with the alert undelivered;
    with --once it reports the error."""
    from sqlalchemy.exc import OperationalError

    from api import cli
    from api.services import webhooks
    from tests.api.test_webhooks import Receiver, _red_flag, _subscribed

    receiver = Receiver()
    monkeypatch.setattr(cli, "WORKER_BACKOFF_MAX", 0.05)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    real_drain, passes = webhooks.drain, []

    def drain(*args, **kwargs):  # the first pass meets the database down (an edge)
        passes.append(1)
        if len(passes) == 1:
            raise OperationalError("SELECT webhook_deliveries", {}, Exception("server closed"))
        counts = real_drain(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # then stop, as a supervisor would
        return counts

    try:
        patient, _, _ = _subscribed(client, make, receiver.url, ["alert.raised"])
        _red_flag(client, make, patient)
        monkeypatch.setattr(webhooks, "drain", drain)
        once = app.test_cli_runner().invoke(args=["webhooks", "work", "--once"])
        assert isinstance(once.exception, OperationalError) and receiver.requests == []
        passes.clear()
        result = app.test_cli_runner().invoke(args=["webhooks", "work"])
        assert result.exit_code == 0, result.output
        assert "delivered=1" in result.output and len(passes) == 2
        assert [e["type"] for e in receiver.events()] == ["alert.raised"]
    finally:
        receiver.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
