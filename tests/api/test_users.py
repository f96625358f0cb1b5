"""The caller's own profile, and account creation by admins."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import AuditEvent, User, utcnow


def test_me_returns_patient_profile(client, make):
    patient = make.user(
        "patient", affected_side="left", suspected_cause="piriformis", medically_cleared_at=None
    )
    body = client.get("/v1/me", headers=make.headers(patient)).get_json()
    assert body["affected_side"] == "left"
    assert body["suspected_cause"] == "piriformis"
    assert body["medically_cleared_at"] is None


def test_patch_me_sets_profile_and_display_name(client, make, db):
    patient = make.user("patient")
    resp = client.patch(
        "/v1/me",
        json={
            "display_name": "Renamed",
            "affected_side": "right",
            "medically_cleared_at": "2026-10-01",
        },
        headers=make.headers(patient),
    )
    assert resp.status_code == 200
    assert resp.get_json()["medically_cleared_at"] == "2026-10-01"
    db.expire_all()
    stored = db.get(User, patient.id)
    assert stored.display_name == "Renamed"
    assert stored.profile.affected_side == "right"
    assert str(stored.profile.medically_cleared_at) == "2026-10-01"


def test_the_profile_carries_an_etag_and_two_devices_do_not_overwrite_each_other(client, make, db):
    """The phone and the tablet read the profile; the tablet records a consultation date;
    the phone's change, sent with the ETag it read, gets 412 and changes nothing."""
    patient = make.user("patient", medically_cleared_at=None)
    headers = make.headers(patient)
    read = client.get("/v1/me", headers=headers)
    tag = read.headers["ETag"]
    assert read.status_code == 200 and tag.startswith('"') and tag.endswith('"')
    same = client.get("/v1/me", headers=headers | {"If-None-Match": tag})
    assert same.status_code == 304 and not same.data and same.headers["ETag"] == tag
    tablet = client.patch(
        "/v1/me",
        json={"medically_cleared_at": "2026-11-20"},
        headers=headers | {"If-Match": tag},
    )
    assert tablet.status_code == 200 and tablet.headers["ETag"] != tag
    assert client.get("/v1/me", headers=headers).headers["ETag"] == tablet.headers["ETag"]
    phone = client.patch(
        "/v1/me",
        json={"medically_cleared_at": None, "affected_side": "left"},
        headers=headers | {"If-Match": tag},
    )
    assert phone.status_code == 412 and phone.mimetype == "application/problem+json"
    db.expire_all()
    stored = db.get(User, patient.id).profile
    assert (str(stored.medically_cleared_at), stored.affected_side) == ("2026-11-20", "unknown")
    # Without If-Match the last write wins, as everywhere.
    plain = client.patch("/v1/me", json={"affected_side": "left"}, headers=headers)
    assert plain.status_code == 200 and plain.get_json()["affected_side"] == "left"


def test_a_consultation_date_in_the_future_is_refused(client, make, db):
    patient = make.user("patient", medically_cleared_at=None)
    for when in ("2099-01-01", (utcnow().date() + timedelta(days=3)).isoformat()):
        resp = client.patch(
            "/v1/me", json={"medically_cleared_at": when}, headers=make.headers(patient)
        )
        assert resp.status_code == 422 and "medically_cleared_at" in resp.get_json()["errors"]
    db.expire_all()
    assert db.get(User, patient.id).profile.medically_cleared_at is None
    today = utcnow().date().isoformat()
    resp = client.patch(
        "/v1/me", json={"medically_cleared_at": today}, headers=make.headers(patient)
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "   ",
        "Ana\u000bMaria",
        "Ana\x1b[31m",
        "Ana\u0085",
        "Ana\u202eairaM",
        "Ana\ufffe",
        "\u200b",  # a zero-width space alone
        "\u2800\u3164",  # a braille blank and a Hangul filler: nothing drawn
        "Ana\ufdd0",
        "Ana\U0010ffff",
        "Ana\u200fairaM",  # a right-to-left mark
        "Ana\u2028Maria",  # a line separator
    ],
)
def test_a_display_name_must_read_as_written(client, make, db, name):
    """Blank names, control characters and direction overrides: refused on sign-up and on
    change (a chart's SVG, a page and a PDF show the name)."""
    patient = make.user("patient")
    before = patient.display_name
    changed = client.patch("/v1/me", json={"display_name": name}, headers=make.headers(patient))
    assert changed.status_code == 422 and "display_name" in changed.get_json()["errors"]
    signed_up = client.post(
        "/v1/auth/register",
        json={"email": "named@example.org", "password": "a long password", "display_name": name},
    )
    assert signed_up.status_code == 422 and "display_name" in signed_up.get_json()["errors"]
    db.expire_all()
    assert db.get(User, patient.id).display_name == before
    assert db.scalar(select(User).where(User.email == "named@example.org")) is None


def test_a_display_name_keeps_the_joiners_of_scripts_and_emoji(client, make):
    patient = make.user("patient")
    names = ("Mehr\u200cdad", "Ana \U0001f469\u200d\U0001f4bb", "Zoë Łukasz", "José Núñez")
    for name in names:
        resp = client.patch("/v1/me", json={"display_name": name}, headers=make.headers(patient))
        assert resp.status_code == 200 and resp.get_json()["display_name"] == name


@pytest.mark.parametrize(
    "body",
    [{"role": "admin"}, {"email": "other@example.org"}, {"affected_side": "top"}, {"id": "x"}],
)
def test_patch_me_rejects_unknown_or_protected_fields(client, make, db, body):
    patient = make.user("patient")
    resp = client.patch("/v1/me", json=body, headers=make.headers(patient))
    assert resp.status_code == 422
    db.expire_all()
    assert db.get(User, patient.id).role == "patient"


def test_therapist_cannot_set_patient_profile_fields(client, make):
    therapist = make.user("therapist")
    resp = client.patch("/v1/me", json={"affected_side": "left"}, headers=make.headers(therapist))
    assert resp.status_code == 422
    assert "affected_side" in resp.get_json()["errors"]


def test_admin_creates_therapist_account_and_it_is_audited(client, make, db):
    admin = make.user("admin")
    body = {
        "email": "t@example.org",
        "password": "long enough pass",
        "display_name": "T",
        "role": "therapist",
    }
    resp = client.post("/v1/users", json=body, headers=make.headers(admin))
    assert resp.status_code == 201 and resp.get_json()["role"] == "therapist"
    assert db.scalar(select(User.role).where(User.email == "t@example.org")) == "therapist"
    again = client.post("/v1/users", json=body, headers=make.headers(admin))
    assert again.status_code == 409
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.create")).all()
    assert (event.actor_id, event.actor_role, event.resource_type, event.resource_id) == (
        admin.id,
        "admin",
        "user",
        resp.get_json()["id"],
    )
    assert (event.status, event.patient_id, event.request_id) == (
        201,
        None,
        resp.headers["X-Request-ID"],
    )


@pytest.mark.parametrize("role", ["patient", "therapist"])
def test_only_admins_create_accounts(client, make, db, role):
    caller = make.user(role)
    resp = client.post(
        "/v1/users",
        json={
            "email": "t@example.org",
            "password": "long enough pass",
            "display_name": "T",
            "role": "admin",
        },
        headers=make.headers(caller),
    )
    assert resp.status_code == 403
    assert db.scalar(select(User).where(User.email == "t@example.org")) is None
