"""Registration, tokens, refresh rotation and its grace window, logout, password change and
bearer checks."""

import hashlib
import sqlite3
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from api.auth import _verified_claims, issue_access_token
from api.db import session_scope
from api.services import auth as auth_service
from api.services import passwords
from api.services import users as users_service
from models import AuditEvent, IdempotencyRecord, RefreshToken, User, utcnow
from tests.conftest import (
    PASSWORD,
    checkin_body,
    same_problem,
    sqlite_file_app,
    writer_queue_is_free,
)

NEW_PASSWORD = "a brand new passphrase"


class Clock:
    """The token service's clock, moved by hand."""

    def __init__(self):
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth_service, "now", clock)
    return clock


def _register(client, email="new.patient@example.org", password="long enough pass", **extra):
    body = {"email": email, "password": password, "display_name": "New Patient", **extra}
    return client.post("/v1/auth/register", json=body)


def _login(client, email, password=PASSWORD):
    return client.post("/v1/auth/token", json={"email": email, "password": password})


def test_register_creates_patient_with_argon2id_hash_and_profile_audited(client, db):
    resp = _register(client, email="New.Patient@Example.org")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["role"] == "patient"
    assert body["email"] == "new.patient@example.org"
    assert "password" not in body and "password_hash" not in body
    user = db.scalar(select(User).where(User.email == "new.patient@example.org"))
    assert user.password_hash.startswith("$argon2id$")
    assert user.profile is not None and user.profile.affected_side == "unknown"
    [event] = db.scalars(select(AuditEvent)).all()
    assert (event.action, event.resource_id, event.status) == ("user.create", body["id"], 201)
    assert event.actor_id is None  # no one was signed in


def test_register_with_a_taken_email_answers_alike_and_leaves_the_account_alone(client, db):
    first = _register(client, email="dup@example.org", password="the owner's pass")
    assert first.status_code == 201
    again = _register(client, email="DUP@example.org", password="an intruder's pass")
    fresh = _register(client, email="fresh@example.org", password="an intruder's pass")
    assert again.status_code == fresh.status_code == 201
    shape = {k: type(v) for k, v in fresh.get_json().items()}
    assert {k: type(v) for k, v in again.get_json().items()} == shape
    assert again.get_json()["email"] == "dup@example.org"
    assert again.get_json()["id"] not in (first.get_json()["id"], fresh.get_json()["id"])
    owner = db.scalar(select(User).where(User.email == "dup@example.org"))
    assert str(owner.id) == first.get_json()["id"] and owner.display_name == "New Patient"
    assert db.get(User, uuid.UUID(again.get_json()["id"])) is None
    assert _login(client, "dup@example.org", "the owner's pass").status_code == 200
    assert _login(client, "dup@example.org", "an intruder's pass").status_code == 401
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.register_existing"))
    assert event.resource_id == str(owner.id) and event.actor_id is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"password": "short9char"[:9]}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "admin"}, "role"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_register_rejects_bad_fields_and_mass_assignment(client, db, override, field):
    resp = client.post(
        "/v1/auth/register",
        json={"email": "x@example.org", "password": "long enough pass", "display_name": "X"}
        | override,
    )
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]
    assert db.scalar(select(User).where(User.email == "x@example.org")) is None


def test_password_of_exactly_ten_characters_is_accepted(client):
    assert _register(client, password="0123456789").status_code == 201


def test_token_then_me_with_bearer(client, make):
    patient = make.user("patient")
    resp = _login(client, patient.email.upper())
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == str(patient.id)


def test_wrong_password_and_unknown_email_answer_alike(client, make):
    patient = make.user("patient")
    wrong = _login(client, patient.email, "wrong password!")
    unknown = _login(client, "nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert same_problem(wrong) == same_problem(unknown)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not.a.jwt", "Basic abc", "Bearer {forged}", "Bearer {expired}"],
)
def test_missing_forged_or_expired_token_gets_401_with_challenge(app, client, make, header):
    user = make.user("patient")
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "role": "admin", "iss": "sciatica-care", "typ": "access"}
    forged = jwt.encode(
        claims
        | {"iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())},
        "another-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
    )
    expired = jwt.encode(
        claims
        | {
            "iat": int((now - timedelta(hours=1)).timestamp()),
            "exp": int((now - timedelta(minutes=1)).timestamp()),
        },
        app.config["SECRET_KEY"],
        algorithm="HS256",
    )
    headers = {}
    if header:
        headers["Authorization"] = header.format(forged=forged, expired=expired)
    resp = client.get("/v1/me", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.mimetype == "application/problem+json"


def test_token_accepted_before_is_refused_once_it_expires(client, make, monkeypatch):
    """An accepted token's checks are kept for its next use (api.auth), its expiry is not."""
    user = make.user("patient")
    headers = make.headers(user)
    assert client.get("/v1/me", headers=headers).status_code == 200
    kept = _verified_claims.cache_info().hits
    assert client.get("/v1/me", headers=headers).status_code == 200
    assert _verified_claims.cache_info().hits == kept + 1  # its checks were kept
    token = headers["Authorization"].removeprefix("Bearer ")
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    tokens = sys.modules["api.auth"]  # the package's own name `auth` is the auth resource
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: expires))  # the clock
    resp = client.get("/v1/me", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].endswith('error="invalid_token"')


@pytest.mark.parametrize(("ahead", "status"), [(2, 200), (25, 200), (90, 401)])
def test_a_token_from_a_server_whose_clock_runs_ahead_is_taken_within_the_skew(
    app, client, make, ahead, status
):
    """Several app servers behind one balancer: a token issued by one whose clock is a few
    seconds ahead works on the others at once; one issued far in the future does not."""
    user = make.user("patient")
    with app.test_request_context():
        token, _ = issue_access_token(
            user, family_id=None, now=datetime.now(UTC) + timedelta(seconds=ahead)
        )
    resp = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == status


def test_token_issued_before_password_change_is_refused(client, make, db):
    user = make.user("patient")
    headers = make.headers(user)
    user.password_changed_at = datetime.now(UTC) + timedelta(seconds=2)
    db.flush()
    assert client.get("/v1/me", headers=headers).status_code == 401


def _refresh(client, token):
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


def _bearer(body: dict) -> dict:
    return {"Authorization": f"Bearer {body['access_token']}"}


def _family(db, user) -> list[RefreshToken]:
    db.expire_all()
    return db.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()


def test_refresh_rotates_and_reuse_after_grace_revokes_family_audited_without_actor(
    client, make, db, clock
):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    rotated = _refresh(client, first)
    assert rotated.status_code == 200
    second = rotated.get_json()["refresh_token"]
    assert second != first
    clock.advance(21)
    reuse = _refresh(client, first)
    assert reuse.status_code == 401
    # The thief's reuse ended the family: the legitimate successor no longer works either.
    assert _refresh(client, second).status_code == 401
    tokens = _family(db, patient)
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)
    assert {t.token_hash for t in tokens} == {
        hashlib.sha256(t.encode()).hexdigest() for t in (first, second)
    }
    reuse_events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.refresh_reuse")
    ).all()
    # The account whose token was reused, not as the actor: a thief may have presented it.
    assert [(e.outcome, e.status, e.resource_id, e.actor_id) for e in reuse_events] == [
        ("failure", 401, str(patient.id), None)
    ]


@pytest.mark.parametrize("after_seconds", [0, 5, 19.9, 20])
def test_repeat_refresh_within_grace_returns_the_same_successor(
    client, make, db, clock, after_seconds
):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    lost = _refresh(client, first).get_json()
    clock.advance(after_seconds)
    retry = _refresh(client, first)
    assert retry.status_code == 200
    body = retry.get_json()
    assert body["refresh_token"] == lost["refresh_token"]
    assert body["access_token"] != lost["access_token"]
    assert client.get("/v1/me", headers=_bearer(body)).status_code == 200
    tokens = _family(db, patient)
    assert len(tokens) == 2 and all(t.revoked_at is None for t in tokens)
    # The family goes on from the successor the retry got.
    assert _refresh(client, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("after_seconds", [20.001, 21, 3600])
def test_repeat_refresh_after_grace_is_theft(client, make, db, clock, after_seconds):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    second = _refresh(client, first).get_json()["refresh_token"]
    clock.advance(after_seconds)
    assert _refresh(client, first).status_code == 401
    assert _refresh(client, second).status_code == 401
    assert all(t.revoked_at is not None for t in _family(db, patient))


def test_repeat_refresh_once_the_successor_was_used_is_theft(client, make, db, clock):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    second = _refresh(client, first).get_json()["refresh_token"]
    clock.advance(2)
    third = _refresh(client, second).get_json()["refresh_token"]
    clock.advance(2)
    assert _refresh(client, first).status_code == 401
    assert _refresh(client, third).status_code == 401
    tokens = _family(db, patient)
    assert len(tokens) == 3 and all(t.revoked_at is not None for t in tokens)


def test_grace_window_comes_from_config(app, client, make, db, clock):
    app.config["REFRESH_REUSE_GRACE"] = timedelta(0)
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    second = _refresh(client, first).get_json()["refresh_token"]
    clock.advance(0.5)
    assert _refresh(client, first).status_code == 401
    assert _refresh(client, second).status_code == 401


def test_retry_within_grace_does_not_revive_a_logged_out_family(client, make, clock):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    second = _refresh(client, first).get_json()["refresh_token"]
    assert client.post("/v1/auth/logout", json={"refresh_token": second}).status_code == 204
    clock.advance(1)
    assert _refresh(client, first).status_code == 401


def test_families_are_independent(client, make, clock):
    patient = make.user("patient")
    phone = _login(client, patient.email).get_json()["refresh_token"]
    tablet = _login(client, patient.email).get_json()["refresh_token"]
    _refresh(client, phone)
    clock.advance(60)
    assert _refresh(client, phone).status_code == 401
    assert _refresh(client, tablet).status_code == 200


def test_refresh_with_unknown_or_expired_token_is_401(client, make, db):
    patient = make.user("patient")
    token = _login(client, patient.email).get_json()["refresh_token"]
    stored = db.scalar(select(RefreshToken).where(RefreshToken.user_id == patient.id))
    stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.flush()
    assert client.post("/v1/auth/refresh", json={"refresh_token": token}).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": "nope"}).status_code == 401


def test_logout_revokes_the_family(client, make):
    patient = make.user("patient")
    token = _login(client, patient.email).get_json()["refresh_token"]
    assert client.post("/v1/auth/logout", json={"refresh_token": token}).status_code == 204
    assert client.post("/v1/auth/refresh", json={"refresh_token": token}).status_code == 401


def _change_password(client, headers, current=PASSWORD, new=NEW_PASSWORD):
    return client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


def test_password_change_revokes_every_family_and_earlier_access_tokens(client, make, db):
    patient = make.user("patient")
    phone = _login(client, patient.email).get_json()
    tablet = _login(client, patient.email).get_json()
    resp = _change_password(client, _bearer(phone))
    assert resp.status_code == 204
    # Issued within the same second as the change, and refused all the same.
    assert client.get("/v1/me", headers=_bearer(phone)).status_code == 401
    assert client.get("/v1/me", headers=_bearer(tablet)).status_code == 401
    assert _refresh(client, phone["refresh_token"]).status_code == 401
    assert _refresh(client, tablet["refresh_token"]).status_code == 401
    tokens = _family(db, patient)
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)
    assert _login(client, patient.email).status_code == 401
    fresh = _login(client, patient.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert client.get("/v1/me", headers=_bearer(fresh.get_json())).status_code == 200
    user = db.get(User, patient.id)
    assert user.password_changed_at > datetime.now(UTC) - timedelta(minutes=1)
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.password_change"))
    assert (event.actor_id, event.outcome, event.status) == (patient.id, "success", 204)


def test_password_change_leaves_other_users_alone(client, make):
    patient, other = make.user("patient"), make.user("therapist")
    other_tokens = _login(client, other.email).get_json()
    assert _change_password(client, make.headers(patient)).status_code == 204
    assert client.get("/v1/me", headers=_bearer(other_tokens)).status_code == 200
    assert _refresh(client, other_tokens["refresh_token"]).status_code == 200


def test_password_change_with_wrong_current_password_is_422_and_changes_nothing(client, make, db):
    patient = make.user("patient")
    tokens = _login(client, patient.email).get_json()
    resp = _change_password(client, _bearer(tokens), current="not my password")
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert list(resp.get_json()["errors"]) == ["current_password"]
    assert client.get("/v1/me", headers=_bearer(tokens)).status_code == 200
    assert _refresh(client, tokens["refresh_token"]).status_code == 200
    assert _login(client, patient.email).status_code == 200
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.password_change"))
    # Refused to the signed-in user, who is its actor.
    assert (event.outcome, event.status, event.actor_id) == ("failure", 422, patient.id)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "short9chr"}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1}, "x"),
    ],
)
def test_password_change_validates_its_body(client, make, body, field):
    patient = make.user("patient")
    resp = client.post("/v1/me/password", json=body, headers=make.headers(patient))
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]
    assert _login(client, patient.email).status_code == 200


def test_password_change_needs_a_signed_in_user(client):
    resp = client.post(
        "/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert resp.status_code == 401


def _bearer(body: dict) -> dict:
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_logout_ends_the_access_tokens_of_that_family_only(client, make):
    patient = make.user("patient")
    phone = _login(client, patient.email).get_json()
    tablet = _login(client, patient.email).get_json()
    rotated = _refresh(client, phone["refresh_token"]).get_json()
    assert client.get("/v1/me", headers=_bearer(phone)).status_code == 200
    out = client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert out.status_code == 204
    # Both access tokens of the phone's family, before and after rotation, end at once.
    for body in (phone, rotated):
        refused = client.get("/v1/me", headers=_bearer(body))
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers["WWW-Authenticate"]
    assert client.get("/v1/me", headers=_bearer(tablet)).status_code == 200


def test_reuse_of_a_spent_refresh_token_ends_the_familys_access_tokens(client, make, clock):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()
    second = _refresh(client, first["refresh_token"]).get_json()
    clock.advance(60)
    assert _refresh(client, first["refresh_token"]).status_code == 401
    assert client.get("/v1/me", headers=_bearer(second)).status_code == 401


def test_access_tokens_name_their_family_and_a_malformed_one_is_refused(app, client, make):
    patient = make.user("patient")
    body = _login(client, patient.email).get_json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert len(claims["fam"]) == 32
    forged = jwt.encode(claims | {"fam": "not-a-uuid"}, app.config["SECRET_KEY"], "HS256")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def _deactivate(client, admin_headers, user, active=False):
    return client.patch(f"/v1/users/{user.id}", json={"active": active}, headers=admin_headers)


def test_deactivation_ends_access_at_once_and_keeps_the_records(client, make, db):
    admin, therapist, patient = make.user("admin"), make.user("therapist"), make.user("patient")
    make.link(patient, therapist)
    tokens = _login(client, patient.email).get_json()
    recorded = client.post("/v1/checkins", json=checkin_body(), headers=_bearer(tokens))
    assert recorded.status_code == 201
    answer = _deactivate(client, make.headers(admin), patient)
    assert answer.status_code == 200 and answer.get_json()["deactivated_at"]
    twice = _deactivate(client, make.headers(admin), patient)
    assert twice.get_json()["deactivated_at"] == answer.get_json()["deactivated_at"]
    assert client.get("/v1/me", headers=_bearer(tokens)).status_code == 401
    assert _refresh(client, tokens["refresh_token"]).status_code == 401
    # Signing in answers exactly like a wrong password: nobody learns the account's state.
    refused, unknown = _login(client, patient.email), _login(client, "nobody@example.org")
    assert refused.status_code == 401 and same_problem(refused) == same_problem(unknown)
    # The clinic keeps the records: the linked therapist still reads and exports them.
    listed = client.get("/v1/checkins", headers=make.headers(therapist)).get_json()["items"]
    assert [c["id"] for c in listed] == [recorded.get_json()["id"]]
    export = client.get("/v1/exports/checkins.csv", headers=make.headers(therapist))
    assert export.status_code == 200 and recorded.get_json()["id"] in export.text
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "user.deactivate"))
    assert (event.actor_id, event.resource_id) == (admin.id, str(patient.id))
    again = _deactivate(client, make.headers(admin), patient, active=True)
    assert again.status_code == 200 and again.get_json()["deactivated_at"] is None
    assert _login(client, patient.email).status_code == 200


def test_only_admins_deactivate_and_unknown_accounts_are_404(client, make, db):
    therapist, patient = make.user("therapist"), make.user("patient")
    make.link(patient, therapist)
    assert _deactivate(client, make.headers(therapist), patient).status_code == 403
    assert _deactivate(client, make.headers(patient), patient).status_code == 403
    assert db.get(User, patient.id).deactivated_at is None
    ghost = User(id=uuid.uuid4())
    assert _deactivate(client, make.headers(make.user("admin")), ghost).status_code == 404


# ---- passwords are hashed with no write under way ------------------------------------------
# Hashing or checking a password is argon2's deliberate tenth of a second or more of CPU. On
# SQLite one writer at a time holds the database's lock: a sign-in or sign-up hashing under
# it would hold back every write of the clinic (a recorded session, a check-in) meanwhile.


@pytest.fixture
def file_app(monkeypatch, tmp_path):
    """The app on a SQLite file of its own, committing for real: other connections see its
    locks and its commits. Rate limits are on, as in production: the sign-in's limit by
    account reads the audit trail first."""
    yield from sqlite_file_app(monkeypatch, f"{tmp_path}/hashing.sqlite3", RATELIMIT_ENABLED=True)


def _writes_can_begin(path: str) -> bool:
    """Whether another writer could begin at once: SQLite's own writer lock and the queue the
    app's writers wait in (api.db) are both free."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()
    return writer_queue_is_free(path)


class ProbedHasher(PasswordHasher):
    """argon2 as the app uses it, calling `probe` before each hash or check (the real work
    follows)."""

    def __init__(self, probe) -> None:
        super().__init__()
        self.probe = probe

    def hash(self, password, **kwargs):
        self.probe("hash")
        return super().hash(password, **kwargs)

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        self.probe("verify")
        return super().verify(hash, password)


@pytest.fixture
def probed(monkeypatch, file_app):
    """Each hash or check of a password, with whether writes could begin while it ran."""
    seen: list[tuple[str, bool]] = []
    path = file_app.config["DATABASE_PATH"]
    hasher = ProbedHasher(lambda what: seen.append((what, _writes_can_begin(path))))
    monkeypatch.setattr(passwords, "_hasher", hasher)
    return seen


def _signed_in(client, email: str, password: str = PASSWORD) -> dict:
    token = _login(client, email, password).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _admin_headers(app, client) -> dict:
    with session_scope(app) as db_session:
        users_service.create(
            db_session=db_session,
            email="admin@example.org",
            password=PASSWORD,
            display_name="Admin",
            role="admin",
        )
    return _signed_in(client, "admin@example.org")


def _sign_up_replacing_an_expired_key(client, context) -> tuple:
    """A sign-up whose Idempotency-Key was used by one that has expired since."""
    key = {"Idempotency-Key": "sign-up-key"}
    first = client.post(
        "/v1/auth/register",
        json={"email": "first@example.org", "password": PASSWORD, "display_name": "First"},
        headers=key,
    )
    assert first.status_code == 201
    with session_scope(context["app"]) as db_session:
        db_session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(1)))
    context["probed"].clear()
    body = {"email": "second@example.org", "password": PASSWORD, "display_name": "Second"}
    return client.post("/v1/auth/register", json=body, headers=key), 201


HASHING_REQUESTS = {
    "sign-up": lambda client, _context: (_register(client, email="other@example.org"), 201),
    "sign-up with a taken email": lambda client, _context: (
        _register(client, email="known@example.org"),
        201,
    ),
    "sign-up replacing an expired Idempotency-Key": _sign_up_replacing_an_expired_key,
    "sign-in": lambda client, _context: (_login(client, "known@example.org"), 200),
    "sign-in with a wrong password": lambda client, _context: (
        _login(client, "known@example.org", "not the password"),
        401,
    ),
    "sign-in with an unknown email": lambda client, _context: (
        _login(client, "nobody@example.org"),
        401,
    ),
    "password change": lambda client, context: (
        client.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=context["patient"],
        ),
        204,
    ),
    "an admin creates an account": lambda client, context: (
        client.post(
            "/v1/users",
            json={
                "email": "therapist@example.org",
                "password": PASSWORD,
                "display_name": "Therapist",
                "role": "therapist",
            },
            headers=context["admin"],
        ),
        201,
    ),
}


@pytest.mark.parametrize("request_name", HASHING_REQUESTS)
def test_no_write_is_held_back_while_a_password_is_hashed_or_checked(
    file_app, probed, request_name
):
    client = file_app.test_client()
    assert _register(client, email="known@example.org", password=PASSWORD).status_code == 201
    context = {
        "app": file_app,
        "probed": probed,
        "patient": _signed_in(client, "known@example.org"),
        "admin": _admin_headers(file_app, client),
    }
    probed.clear()
    resp, status = HASHING_REQUESTS[request_name](client, context)
    assert resp.status_code == status, resp.get_json()
    assert probed, "the request hashed or checked no password"
    assert all(free for _, free in probed), probed


def _set_account(path: str, **columns) -> None:
    """Change the account from another connection (another request, the operator)."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        other.execute(
            f"UPDATE users SET {assignments} WHERE email = 'known@example.org'",  # noqa: S608
            tuple(columns.values()),
        )


def _stored_hash(path: str) -> str:
    with closing(sqlite3.connect(path)) as db:
        query = "SELECT password_hash FROM users WHERE email = 'known@example.org'"
        return db.execute(query).fetchone()[0]


A_NEW_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.mark.parametrize(
    "change",
    [
        {"password_hash": A_NEW_HASH, "password_changed_at": "2026-11-02 00:00:00.000000"},
        {"deactivated_at": "2026-11-01 00:00:00.000000"},
    ],
    ids=["password changed", "account deactivated"],
)
def test_an_account_changed_while_its_sign_in_is_checked_is_refused(monkeypatch, file_app, change):
    """The password is checked before the write; the write then finds the account as checked
    or refuses: no tokens for a password that just stopped being the account's, or for an
    account just deactivated."""
    client = file_app.test_client()
    assert _register(client, email="known@example.org", password=PASSWORD).status_code == 201
    path = file_app.config["DATABASE_PATH"]

    def change_the_account(what: str) -> None:
        if what == "verify":
            _set_account(path, **change)

    monkeypatch.setattr(passwords, "_hasher", ProbedHasher(change_the_account))
    resp = _login(client, "known@example.org")
    assert resp.status_code == 401
    assert same_problem(resp)["detail"] == auth_service.BAD_CREDENTIALS
    with closing(sqlite3.connect(path)) as db:
        tokens = db.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0]
        outcomes = db.execute(
            "SELECT outcome FROM audit_events WHERE action = 'auth.login'"
        ).fetchall()
    assert tokens == 0 and outcomes == [("failure",)]


WEAK = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def test_a_sign_in_stores_a_stronger_hash_when_the_parameters_changed(file_app, probed):
    client = file_app.test_client()
    assert _register(client, email="known@example.org", password=PASSWORD).status_code == 201
    path = file_app.config["DATABASE_PATH"]
    _set_account(path, password_hash=WEAK.hash(PASSWORD))
    probed.clear()
    assert _login(client, "known@example.org").status_code == 200
    assert [what for what, _ in probed] == ["verify", "hash"]
    assert all(free for _, free in probed), probed
    stored = _stored_hash(path)
    assert not passwords.needs_rehash(stored) and passwords.verify_password(stored, PASSWORD)


def test_a_deactivated_account_gets_no_rehash_and_no_more_work_than_a_wrong_password(
    file_app, probed
):
    """Hashing again for a deactivated account would make its right password answer twice
    as slowly as a wrong one: the account's existence, and its password, told by timing."""
    client = file_app.test_client()
    assert _register(client, email="known@example.org", password=PASSWORD).status_code == 201
    path = file_app.config["DATABASE_PATH"]
    weak = WEAK.hash(PASSWORD)
    _set_account(path, password_hash=weak, deactivated_at="2026-11-01 00:00:00.000000")
    probed.clear()
    assert _login(client, "known@example.org").status_code == 401
    assert [what for what, _ in probed] == ["verify"]
    assert _stored_hash(path) == weak


def test_a_rehash_stored_by_another_sign_in_meanwhile_is_kept_and_this_one_succeeds(
    monkeypatch, file_app
):
    """Two sign-ins of one account whose hash is out of date: the second finds the first's
    stronger hash (the password itself did not change) and signs in, keeping it."""
    client = file_app.test_client()
    assert _register(client, email="known@example.org", password=PASSWORD).status_code == 201
    path = file_app.config["DATABASE_PATH"]
    _set_account(path, password_hash=WEAK.hash(PASSWORD))
    theirs = passwords.hash_password(PASSWORD)

    def the_other_sign_in_stores_its_rehash(what: str) -> None:
        if what == "verify":
            _set_account(path, password_hash=theirs)

    monkeypatch.setattr(passwords, "_hasher", ProbedHasher(the_other_sign_in_stores_its_rehash))
    assert _login(client, "known@example.org").status_code == 200
    assert _stored_hash(path) == theirs
