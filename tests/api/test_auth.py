"""Registration, tokens, refresh rotation, logout and bearer checks."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from models import RefreshToken, User
from tests.conftest import PASSWORD


def _register(client, email="new.patient@example.org", password="long enough pass", **extra):
    body = {"email": email, "password": password, "display_name": "New Patient", **extra}
    return client.post("/v1/auth/register", json=body)


def _login(client, email, password=PASSWORD):
    return client.post("/v1/auth/token", json={"email": email, "password": password})


def test_register_creates_patient_with_argon2id_hash_and_profile(client, db):
    resp = _register(client, email="New.Patient@Example.org")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["role"] == "patient"
    assert body["email"] == "new.patient@example.org"
    assert "password" not in body and "password_hash" not in body
    user = db.scalar(select(User).where(User.email == "new.patient@example.org"))
    assert user.password_hash.startswith("$argon2id$")
    assert user.profile is not None and user.profile.affected_side == "unknown"


def test_register_refuses_duplicate_email_case_insensitively(client, db):
    assert _register(client, email="dup@example.org").status_code == 201
    resp = _register(client, email="DUP@example.org")
    assert resp.status_code == 409
    assert resp.mimetype == "application/problem+json"
    assert db.scalar(select(User).where(User.email == "dup@example.org")) is not None


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
    assert wrong.get_json() == unknown.get_json()


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


def test_token_issued_before_password_change_is_refused(client, make, db):
    user = make.user("patient")
    headers = make.headers(user)
    user.password_changed_at = datetime.now(UTC) + timedelta(seconds=2)
    db.flush()
    assert client.get("/v1/me", headers=headers).status_code == 401


def test_refresh_rotates_and_reuse_revokes_family(client, make, db):
    patient = make.user("patient")
    first = _login(client, patient.email).get_json()["refresh_token"]
    rotated = client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.get_json()["refresh_token"]
    assert second != first
    reuse = client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401
    # The thief's reuse ended the family: the legitimate successor no longer works either.
    assert client.post("/v1/auth/refresh", json={"refresh_token": second}).status_code == 401
    tokens = db.scalars(select(RefreshToken).where(RefreshToken.user_id == patient.id)).all()
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)
    assert all(t.token_hash not in (first, second) for t in tokens)


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
