"""Every error is RFC 9457 problem+json; limits and media types are enforced."""

import uuid

import pytest
from flask import abort

from tests.conftest import checkin_body

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def _assert_problem(resp, status):
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status
    assert "Traceback" not in resp.get_data(as_text=True)
    return body


def test_unknown_route_is_404_problem(client):
    _assert_problem(client.get("/v1/nowhere"), 404)


def test_wrong_method_is_405_problem_with_allow(client):
    resp = client.put("/v1/sessions")
    _assert_problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_malformed_json_is_400_problem(client, make):
    patient = make.user("patient")
    resp = client.post(
        "/v1/checkins",
        data="{not json",
        content_type="application/json",
        headers=make.headers(patient),
    )
    _assert_problem(resp, 400)
    # It says what is wrong and where, not that "the browser (or proxy)" erred.
    assert resp.get_json()["detail"] == (
        "The body is not valid JSON: Expecting property name enclosed in double quotes "
        "(line 1, column 2)."
    )
    latin1 = client.post(
        "/v1/checkins",
        data='{"notes": "caf\xe9"}'.encode("latin-1"),
        content_type="application/json",
        headers=make.headers(patient),
    )
    _assert_problem(latin1, 400)
    assert latin1.get_json()["detail"] == "The body is not valid JSON text (UTF-8)."


def test_non_json_body_is_415_problem(client, make):
    patient = make.user("patient")
    resp = client.post(
        "/v1/checkins",
        data="pain=4",
        content_type="application/x-www-form-urlencoded",
        headers=make.headers(patient),
    )
    _assert_problem(resp, 415)


def test_body_over_one_mebibyte_is_413_problem(client, make, db):
    patient = make.user("patient")
    resp = client.post(
        "/v1/checkins", json=checkin_body(notes="x" * (1024 * 1024)), headers=make.headers(patient)
    )
    _assert_problem(resp, 413)


def test_validation_errors_are_keyed_by_field(client, make):
    patient = make.user("patient")
    resp = client.post("/v1/checkins", json={"pain": 99}, headers=make.headers(patient))
    body = _assert_problem(resp, 422)
    assert set(body["errors"]) == {"pain", "recorded_at"}


def test_unhandled_exception_is_500_problem_without_trace(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    resp = app.test_client().get("/boom")
    body = _assert_problem(resp, 500)
    assert "secret internals" not in resp.get_data(as_text=True)
    assert body["title"] == "Internal server error"


@pytest.mark.parametrize("status", [400, 403, 409, 429, 503])
def test_plain_http_aborts_become_problems(app, status):
    @app.get(f"/abort{status}")
    def aborter():
        abort(status)

    _assert_problem(app.test_client().get(f"/abort{status}"), status)


def test_health_and_ready_need_no_auth(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["status"] == "ready"


def test_ready_is_503_when_database_is_unreachable(monkeypatch, tmp_path):
    from api import create_app

    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing-dir/db.sqlite3")
    app = create_app()
    _assert_problem(app.test_client().get("/readyz"), 503)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_write_without_a_body_is_refused_and_changes_nothing(client, make, db, method):
    patient = make.user("patient")
    url = "/v1/me" if method == "PATCH" else "/v1/checkins"
    resp = client.open(url, method=method, headers=make.headers(patient))
    _assert_problem(resp, 415)


@pytest.mark.parametrize(
    "body",
    [
        checkin_body(notes="before\x00after"),
        checkin_body(symptoms={"side": "left\x00"}),
        checkin_body(**{"not\x00a field": 1}),
    ],
)
def test_nul_characters_are_refused_alike_on_every_database(client, make, db, body):
    from sqlalchemy import func, select

    from models import CheckIn

    patient = make.user("patient")
    resp = client.post("/v1/checkins", json=body, headers=make.headers(patient))
    problem = _assert_problem(resp, 422)
    assert "NUL" in str(problem["errors"])
    assert db.scalar(select(func.count()).select_from(CheckIn)) == 0


def test_a_nul_in_an_alert_note_is_refused_and_changes_nothing(client, make, db):
    patient = make.user("patient")
    therapist = make.user("therapist")
    make.link(patient, therapist)
    created = client.post(
        "/v1/checkins", json=checkin_body(pain=9), headers=make.headers(patient)
    ).get_json()
    (alert,) = created["alerts"]
    resp = client.post(
        f"/v1/alerts/{alert['id']}/resolve",
        json={"note": "\x00\ud904\udcb5"},
        headers=make.headers(therapist),
    )
    _assert_problem(resp, 422)
    after = client.get(f"/v1/alerts/{alert['id']}", headers=make.headers(therapist)).get_json()
    assert after["status"] == "open"


def test_one_problem_type_and_title_per_kind_whoever_raises_it(client, make):
    patient = make.user("patient")
    headers = make.headers(patient)
    framework_404 = client.get("/v1/nowhere")
    domain_404 = client.get(f"/v1/sessions/{uuid.uuid4()}", headers=headers)
    schema_422 = client.post("/v1/checkins", json=checkin_body(pain=11), headers=headers)
    query_422 = client.get("/v1/sessions?limit=0", headers=headers)
    domain_422 = client.patch(
        "/v1/me", json={"affected_side": "left"}, headers=make.headers(make.user("therapist"))
    )
    for group, status in (
        ((framework_404, domain_404), 404),
        ((schema_422, query_422, domain_422), 422),
    ):
        bodies = [_assert_problem(resp, status) for resp in group]
        assert len({(b["type"], b["title"]) for b in bodies}) == 1, bodies
    assert domain_404.get_json()["type"] == "urn:sciatica-care:problem:not-found"
    assert schema_422.get_json()["title"] == "Validation error"


def test_problem_instance_is_the_request_id(client):
    resp = client.get("/v1/nowhere", headers={"X-Request-ID": "trace-4711"})
    body = _assert_problem(resp, 404)
    assert resp.headers["X-Request-ID"] == "trace-4711"
    assert body["instance"] == "urn:sciatica-care:request:trace-4711"


def test_a_database_error_is_logged_without_any_value_from_the_request(
    client, make, db, connection, caplog
):
    from sqlalchemy import text

    patient = make.user("patient")
    if connection.dialect.name == "postgresql":
        # PostgreSQL's message then quotes the whole row: "Failing row contains (...)".
        connection.execute(
            text("ALTER TABLE checkins ADD CONSTRAINT refuse_all CHECK (pain < 0) NOT VALID")
        )
    else:
        connection.execute(text("ALTER TABLE checkins RENAME COLUMN notes TO notes_gone"))
    secret_note = "sciatic pain note 7f3a9c"
    body = checkin_body(notes=secret_note, pain=7)
    with caplog.at_level("DEBUG"):
        resp = client.post("/v1/checkins", json=body, headers=make.headers(patient))
    _assert_problem(resp, 500)
    assert "database error" in caplog.text and resp.headers["X-Request-ID"] in caplog.text
    for value in (secret_note, body["recorded_at"][:10], "7f3a9c"):
        assert value not in caplog.text


def test_pages_cannot_be_framed_and_the_chart_can_run_nothing(client, make):
    patient = make.user("patient")
    chart = client.get(f"/v1/patients/{patient.id}/report/chart.svg", headers=make.headers(patient))
    page = client.get(f"/v1/patients/{patient.id}/report.html", headers=make.headers(patient))
    docs = client.get("/docs")
    for resp in (chart, page, docs):
        assert resp.status_code == 200
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in chart.headers["Content-Security-Policy"]
    assert "script-src" not in chart.headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_hsts_only_over_https_and_through_trusted_proxies(app, monkeypatch, database_url):
    plain = app.test_client().get("/healthz")
    assert "Strict-Transport-Security" not in plain.headers
    secure = app.test_client().get("/healthz", base_url="https://api.example.org")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    forwarded = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forwarded.headers  # no proxy is trusted
    from api import create_app

    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    proxied = create_app({"RATELIMIT_ENABLED": False}).test_client()
    behind = proxied.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_no_state_rides_on_cookies(app, client, make):
    from flask import session
    from flask.sessions import SecureCookieSessionInterface

    patient = make.user("patient")
    # Nothing can store state in a cookie session: writing to Flask's session is refused.
    with app.test_request_context("/v1/me"):
        assert dict(session) == {}
        with pytest.raises(RuntimeError, match="keeps no cookie session"):
            session["user_id"] = str(patient.id)
    # Guards that held before the session was closed too: a cookie signed with the app's
    # own key, as Flask's session would set it, signs no one in, and none is ever set.
    forged = SecureCookieSessionInterface().get_signing_serializer(app)
    client.set_cookie("session", forged.dumps({"user_id": str(patient.id)}))
    assert client.get("/v1/me").status_code == 401
    signed_in = client.get("/v1/me", headers=make.headers(patient))
    assert signed_in.status_code == 200 and "Set-Cookie" not in signed_in.headers


def test_a_database_error_anywhere_in_an_exceptions_chain_is_logged_without_its_message(
    app, caplog
):
    import logging

    from sqlalchemy.exc import IntegrityError, PendingRollbackError

    driver = Exception("DETAIL: Key (email)=(secret.person@example.org) already exists.")
    with app.test_request_context("/v1/auth/register"), caplog.at_level("ERROR"):
        try:
            try:
                raise IntegrityError("INSERT INTO users ...", {}, driver)
            except IntegrityError as inner:
                raise PendingRollbackError(f"Original exception was: {inner}") from inner
        except PendingRollbackError:
            logging.getLogger("api.errors").exception("unhandled error")
    assert "PendingRollbackError from database error" in caplog.text
    assert "secret.person" not in caplog.text
