"""Every route in app.url_map, for every kind of caller: the routes without an id here,
those with an id in test_authorization_matrix.py. A new route missing from both fails."""

import re
import uuid

import pytest

from tests.api.test_authorization_matrix import ROUTES as ID_ROUTES
from tests.conftest import PASSWORD, checkin_body, session_body

ROLES = ("patient", "therapist", "admin")
ALL_OK = dict.fromkeys(ROLES, 200)
CLINICIANS = {"patient": 403, "therapist": 200, "admin": 200}
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
}
# Opened with a report link instead of a bearer token: tests/api/test_report_links.py.
REPORT_LINKS = {
    ("GET", f"/v1/patients/<>/report-links/<>/{name}")
    for name in ("report.html", "chart.svg", "report.pdf")
}

# A subscriber's own: tests/api/test_webhooks.py (test_a_subscription_is_its_owners_alone,
# test_a_delivery_history_is_its_owners_alone).
WEBHOOK_ITEMS = {
    ("GET", "/v1/webhooks/<>"),
    ("DELETE", "/v1/webhooks/<>"),
    ("GET", "/v1/webhooks/<>/deliveries"),
    *{
        ("POST", f"/v1/webhooks/<>/{action}")
        for action in ("rotate-secret", "pause", "resume", "test")
    },
    ("POST", "/v1/webhooks/<>/deliveries/<>/resend"),
    ("GET", "/v1/webhooks/<>/deliveries/<>/attempts"),
}

# (method, path, body builder(world) or None, status by role)
COLLECTION_ROUTES = [
    ("GET", "/v1/me", None, ALL_OK),
    ("PATCH", "/v1/me", lambda w: {"display_name": "Renamed"}, ALL_OK),
    (
        "POST",
        "/v1/me/password",
        lambda w: {"current_password": "not the password", "new_password": "a new long password"},
        dict.fromkeys(ROLES, 422),
    ),
    (
        "POST",
        "/v1/users",
        lambda w: {
            "email": f"{uuid.uuid4().hex[:8]}@example.org",
            "password": "long enough pass",
            "display_name": "New",
            "role": "therapist",
        },
        {"patient": 403, "therapist": 403, "admin": 201},
    ),
    ("GET", "/v1/care-links", None, ALL_OK),
    (
        "POST",
        "/v1/care-links",
        lambda w: {"therapist_email": w["other_therapist"].email},
        {"patient": 201, "therapist": 403, "admin": 403},
    ),
    ("GET", "/v1/sessions", None, ALL_OK),
    (
        "POST",
        "/v1/sessions",
        lambda w: session_body(),
        {"patient": 201, "therapist": 422, "admin": 422},
    ),
    ("GET", "/v1/checkins", None, ALL_OK),
    (
        "POST",
        "/v1/checkins",
        lambda w: checkin_body(),
        {"patient": 201, "therapist": 422, "admin": 422},
    ),
    ("GET", "/v1/alerts", None, ALL_OK),
    ("POST", "/v1/screenings", lambda w: {}, {"patient": 200, "therapist": 422, "admin": 403}),
    ("GET", "/v1/sync", None, ALL_OK),
    ("GET", "/v1/patients", None, CLINICIANS),
    ("GET", "/v1/reports/caseload", None, CLINICIANS),
    ("GET", "/v1/reports/techniques", None, CLINICIANS),
    ("GET", "/v1/reports/alert-quality", None, CLINICIANS),
    ("GET", "/v1/audit-events", None, {"patient": 403, "therapist": 403, "admin": 200}),
    ("GET", "/v1/exports/sessions.csv", None, ALL_OK),
    ("GET", "/v1/exports/checkins.csv", None, ALL_OK),
    ("GET", "/v1/exports/alerts.csv", None, ALL_OK),
    ("GET", "/v1/webhooks", None, CLINICIANS),
    (
        "POST",
        "/v1/webhooks",
        lambda w: {"url": "https://hooks.example.org/alerts", "events": ["alert.raised"]},
        {"patient": 403, "therapist": 201, "admin": 201},
    ),
]


@pytest.fixture
def world(make):
    return {
        "patient": make.user("patient"),
        "therapist": make.user("therapist"),
        "admin": make.user("admin"),
        "other_therapist": make.user("therapist"),
    }


def _call(client, method, path, body, headers):
    if method in ("POST", "PATCH"):
        return client.open(path, method=method, json=body, headers=headers)
    return client.open(path, method=method, headers=headers)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), COLLECTION_ROUTES)
def test_collection_routes_by_role(client, make, world, role, method, path, body, expected):
    resp = _call(client, method, path, body(world) if body else None, make.headers(world[role]))
    assert resp.status_code == expected[role], resp.get_data(as_text=True)[:500]


@pytest.mark.parametrize(("method", "path", "body", "expected"), COLLECTION_ROUTES)
def test_collection_routes_refuse_anonymous(client, make, world, method, path, body, expected):
    resp = _call(client, method, path, body(world) if body else None, {})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_need_no_token(client, make, method, path):
    user = make.user("patient")
    bodies = {
        "/v1/auth/register": {
            "email": "public@example.org",
            "password": "long enough pass",
            "display_name": "P",
        },
        "/v1/auth/token": {"email": user.email, "password": PASSWORD},
        "/v1/auth/refresh": {"refresh_token": "unknown"},
        "/v1/auth/logout": {"refresh_token": "unknown"},
    }
    resp = _call(client, method, path, bodies.get(path), {})
    expected = {"/v1/auth/refresh": 401}.get(path, 204 if path.endswith("logout") else None)
    if expected is None:
        assert resp.status_code in (200, 201)
    else:
        assert resp.status_code == expected


def test_every_route_is_in_a_matrix(app):
    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>|\{\w+\}", "<>", path)

    covered = {(m, shape(p)) for m, p, *_ in ID_ROUTES}
    covered |= {(m, shape(p)) for m, p, *_ in COLLECTION_ROUTES}
    covered |= PUBLIC | REPORT_LINKS | WEBHOOK_ITEMS
    missing = [
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        # tests/test_openapi.py; /metrics: tests/api/test_observability.py (its own token)
        if not rule.rule.startswith(("/static", "/openapi", "/docs", "/metrics"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        if (method, shape(rule.rule)) not in covered
    ]
    assert missing == []
