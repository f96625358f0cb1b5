"""Hostile bodies on every route that takes one: a clear 4xx problem, never a 500, and nothing
stored. Runs on SQLite and on PostgreSQL (the two must answer alike)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models import (
    Alert,
    AuditEvent,
    CareLink,
    CheckIn,
    MassageSession,
    OutboxEvent,
    RefreshToken,
    User,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.conftest import checkin_body, session_body

COUNTED = (
    User,
    MassageSession,
    CheckIn,
    Alert,
    CareLink,
    RefreshToken,
    WebhookSubscription,
    WebhookDelivery,
    OutboxEvent,
)
REFUSALS = {400, 401, 403, 404, 409, 413, 415, 422}
HOSTILE = {
    "nested 1,000 deep": "[" * 1000 + "]" * 1000,
    "object nested 20 deep": '{"notes": ' + '{"a": ' * 20 + "1" + "}" * 21,
    "lone surrogate": '{"email": "\\ud800", "notes": "\\udfff", "refresh_token": "\\ud800"}',
    "5,001-digit number": '{"pain": ' + "9" * 5001 + ', "email": ' + "1" * 5001 + "}",
    "float overflow": '{"pain": 1e400, "duration_minutes": -1e999}',
    "NaN": '{"pain": NaN, "pain_before": Infinity}',
    "NUL in text": json.dumps({"email": "a\x00@b.org", "notes": "x\x00", "reason": "\x00"}),
    "NUL in a key": json.dumps({"no\x00te": 1}),
    "year 1": json.dumps(checkin_body(recorded_at="0001-01-01T00:00:00+00:00")),
    "year 9999": json.dumps(session_body(started_at="9999-12-31T23:59:59+00:00")),
    "offset +23:59": json.dumps(checkin_body(recorded_at="2026-11-20T08:00:00+23:59")),
    "offset -14:30": json.dumps(session_body(started_at="2026-11-20T08:00:00-14:30")),
    "not an object": "[1, 2, 3]",
    "a bare string": '"hello"',
    "invalid UTF-8": b'{"notes": "\xff\xfe"}',
    "truncated": '{"pain": 4, "recorded_at": "2026-',
}


@pytest.fixture
def world(client, make):
    patient, therapist, admin = make.user("patient"), make.user("therapist"), make.user("admin")
    make.link(patient, therapist)
    headers = make.headers(patient)
    written = client.post(
        "/v1/sessions", json=session_body(symptoms={"bladder_bowel_change": True}), headers=headers
    ).get_json()
    checkin = client.post("/v1/checkins", json=checkin_body(), headers=headers).get_json()
    subscription = client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["alert.raised"]},
        headers=make.headers(therapist),
    ).get_json()
    delivery = client.post(
        f"/v1/webhooks/{subscription['id']}/test", json={}, headers=make.headers(therapist)
    ).get_json()
    ids = {
        "<uuid:subscription_id>": subscription["id"],
        "<uuid:delivery_id>": delivery["id"],
        "/v1/sessions/<uuid:report_id>": f"/v1/sessions/{written['id']}",
        "/v1/checkins/<uuid:report_id>": f"/v1/checkins/{checkin['id']}",
        "<uuid:alert_id>": written["alerts"][0]["id"],
        "<uuid:user_id>": str(patient.id),
        "<uuid:patient_id>": str(patient.id),
    }
    callers = {
        "patient": headers,
        "therapist": make.headers(therapist),
        "admin": make.headers(admin),
    }
    return ids, callers


def _routes(app, ids):
    """Every route that takes a JSON body, with its ids filled in."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"POST", "PATCH", "PUT"}):
            url = rule.rule
            for placeholder, value in ids.items():
                url = url.replace(placeholder, value)
            assert "<" not in url, f"{url}: give the fuzz test an id for it"
            yield method, url


def _caller(url: str) -> str:
    if url.startswith(("/v1/alerts", "/v1/webhooks")):
        return "therapist"
    return "admin" if url.startswith("/v1/users") else "patient"


def _counts(db) -> dict:
    return {m.__name__: db.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def _assert_refused(resp):
    assert resp.status_code in REFUSALS, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == resp.status_code


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bodies_are_refused_everywhere_and_change_nothing(
    app, client, db, world, name, signed_in
):
    ids, callers = world
    routes = list(_routes(app, ids))
    assert ("POST", "/v1/auth/token") in routes and ("PATCH", "/v1/me") in routes
    before = _counts(db)
    audited = db.scalar(select(func.count()).select_from(AuditEvent))
    for method, url in routes:
        headers = {"Content-Type": "application/json"}
        if signed_in:
            headers |= callers[_caller(url)]
        data = HOSTILE[name]
        resp = client.open(url, method=method, data=data, headers=headers)
        _assert_refused(resp)
    assert _counts(db) == before
    # Refused sign-ins may be audited (that is their purpose); nothing else is written.
    new_events = db.scalars(select(AuditEvent.action).offset(audited)).all()
    assert set(new_events) <= {"auth.login"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.dictionaries(
        st.sampled_from(["recorded_at", "pain", "symptoms", "notes", "id", "email", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(st.characters(codec=None, categories=None), max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_random_checkin_bodies_never_break_the_server(client, db, world, body):
    _, callers = world
    before = _counts(db)
    data = json.dumps(body)  # lone surrogates travel as \\udXXX escapes, as a client sends them
    resp = client.post(
        "/v1/checkins", data=data, headers=callers["patient"] | {"Content-Type": "application/json"}
    )
    if resp.status_code == 201:
        return  # a body that happens to be valid
    _assert_refused(resp)
    assert _counts(db) == before
