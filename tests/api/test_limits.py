"""Rate limits: sign-in per account and per IP, sign-up, refresh and writes; 429 problem+json
with Retry-After; the off switch; counters shared through Redis."""

import os
import sys
import uuid

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from api import create_app
from api.services import auth as auth_service
from tests.conftest import PASSWORD, checkin_body

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TINY = "3/minute"


@pytest.fixture
def limited_app(monkeypatch, database_url, connection):
    """Build apps on the test's transaction with rate limits on (`enabled=None`: as the
    environment says) and `config` on top."""
    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SECRET_KEY", raising=False)

    def build(enabled: bool | None = True, **config):
        if enabled is not None:
            config["RATELIMIT_ENABLED"] = enabled
        app = create_app(config)
        app.extensions["db_engine"].dispose()
        app.extensions["db_sessionmaker"] = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        return app

    return build


def _from(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def _login(client, email, password="wrong password!", ip="192.0.2.1"):
    return client.post("/v1/auth/token", json={"email": email, "password": password}, **_from(ip))


def _assert_limited(resp) -> None:
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 429 and body["title"] == "Too many requests"
    assert body["type"].endswith(":too-many-requests")
    assert body["detail"].startswith("Too many requests: the limit is ")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_refused_sign_ins_are_limited_per_account_even_from_rotating_ips(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    victim, bystander = make.user("patient"), make.user("patient")
    assert _login(client, victim.email, ip="198.51.100.2").status_code == 401
    assert _login(client, victim.email.upper(), ip="198.51.100.3").status_code == 401
    # Case and surrounding spaces do not make another account.
    assert _login(client, f"  {victim.email.upper()} ", ip="198.51.100.4").status_code == 401
    _assert_limited(_login(client, victim.email, PASSWORD, ip="198.51.100.5"))
    assert _login(client, bystander.email, PASSWORD, ip="198.51.100.6").status_code == 200


def test_a_failed_lookup_of_known_addresses_counts_the_attempt_against_the_account(
    limited_app, make, monkeypatch
):
    """The database refuses the known-address lookup (a real error: a table it lacks): the
    sign-in still answers, and its attempts count against the account as from an unknown
    address."""

    def failing_lookup(*, db_session, **_):
        return db_session.scalar(text("SELECT id FROM no_such_table"))

    monkeypatch.setattr(auth_service, "signed_in_from", failing_lookup)
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    owner = make.user("patient")
    assert _login(client, owner.email, PASSWORD, ip="198.51.100.7").status_code == 200
    assert _login(client, owner.email, ip="198.51.100.7").status_code == 401
    assert _login(client, owner.email, ip="198.51.100.8").status_code == 401
    _assert_limited(_login(client, owner.email, PASSWORD, ip="198.51.100.7"))


def test_guessing_from_elsewhere_does_not_lock_the_owner_out_where_they_sign_in(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    owner = make.user("patient")
    home = "192.0.2.77"
    assert _login(client, owner.email, PASSWORD, ip=home).status_code == 200  # 1 of 3
    for n in range(2):
        assert _login(client, owner.email, ip=f"203.0.113.{n}").status_code == 401
    _assert_limited(_login(client, owner.email, PASSWORD, ip="203.0.113.99"))
    # The owner's usual address has a bucket of its own...
    assert _login(client, owner.email, PASSWORD, ip=home).status_code == 200
    # ...which guessing from that address spends like any other.
    for _ in range(2):
        assert _login(client, owner.email, ip=home).status_code == 401
    _assert_limited(_login(client, owner.email, PASSWORD, ip=home))


def test_a_phone_that_rotates_its_ipv6_address_keeps_its_own_bucket(limited_app, make):
    """Phones change their IPv6 address within their /64: the owner's bucket is the /64's."""
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    owner = make.user("patient")
    assert _login(client, owner.email, PASSWORD, ip="2001:db8:aa:1::1111").status_code == 200
    for n in range(2):
        assert _login(client, owner.email, ip=f"203.0.113.{n}").status_code == 401
    _assert_limited(_login(client, owner.email, PASSWORD, ip="203.0.113.9"))
    rotated = "2001:db8:aa:1:5c2e:9a1f:3b7d:2222"
    assert _login(client, owner.email, PASSWORD, ip=rotated).status_code == 200
    # Another /64 is somewhere else.
    _assert_limited(_login(client, owner.email, PASSWORD, ip="2001:db8:aa:2::1111"))


def test_sign_in_attempts_are_limited_per_ip_across_accounts(limited_app):
    client = limited_app(RATELIMIT_LOGIN_IP=TINY).test_client()
    for n in range(3):
        assert _login(client, f"guess{n}@example.org", ip="203.0.113.9").status_code == 401
    _assert_limited(_login(client, "guess3@example.org", ip="203.0.113.9"))
    assert _login(client, "guess4@example.org", ip="203.0.113.10").status_code == 401


def test_a_clinic_behind_one_address_is_not_locked_out_by_its_typos(limited_app, make):
    client = limited_app().test_client()  # the default limits
    staff = [make.user("therapist") for _ in range(25)]
    for person in staff:
        assert _login(client, person.email, ip="192.0.2.200").status_code == 401
        assert _login(client, person.email, PASSWORD, ip="192.0.2.200").status_code == 200


def test_once_an_account_is_spent_even_the_right_password_waits(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    patient = make.user("patient")
    for _ in range(3):
        _login(client, patient.email)
    _assert_limited(_login(client, patient.email, PASSWORD))


def test_registration_is_limited_per_ip(limited_app):
    client = limited_app(RATELIMIT_REGISTER="2/minute").test_client()

    def register(n, ip):
        body = {"email": f"new{n}@example.org", "password": "long enough pass", "display_name": "N"}
        return client.post("/v1/auth/register", json=body, **_from(ip))

    assert register(1, "192.0.2.50").status_code == 201
    assert register(2, "192.0.2.50").status_code == 201
    _assert_limited(register(3, "192.0.2.50"))
    assert register(4, "192.0.2.51").status_code == 201


def test_every_part_of_a_limit_applies_and_retry_after_follows_the_spent_one(limited_app):
    client = limited_app(RATELIMIT_REFRESH="10/minute;2/hour").test_client()
    for _ in range(2):
        assert client.post("/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401
    resp = client.post("/v1/auth/refresh", json={"refresh_token": "x"})
    assert resp.status_code == 429
    assert 60 < int(resp.headers["Retry-After"]) <= 3600


@pytest.mark.parametrize("path", ["/v1/auth/refresh", "/v1/auth/logout"])
def test_refresh_and_logout_are_limited_per_ip(limited_app, path):
    client = limited_app(RATELIMIT_REFRESH="2/minute").test_client()

    def call(ip):
        return client.post(path, json={"refresh_token": "stolen-guess"}, **_from(ip))

    assert call("192.0.2.60").status_code in (204, 401)
    assert call("192.0.2.60").status_code in (204, 401)
    _assert_limited(call("192.0.2.60"))
    assert call("192.0.2.61").status_code in (204, 401)


def test_writes_are_limited_per_user_and_reads_are_not(limited_app, make):
    client = limited_app(RATELIMIT_WRITES=TINY).test_client()
    busy, other = make.user("patient"), make.user("patient")
    for _ in range(3):
        resp = client.post("/v1/checkins", json=checkin_body(), headers=make.headers(busy))
        assert resp.status_code == 201
    _assert_limited(client.post("/v1/checkins", json=checkin_body(), headers=make.headers(busy)))
    # Every write counts against the one per-user budget, whatever the endpoint.
    _assert_limited(client.patch("/v1/me", json={"display_name": "B"}, headers=make.headers(busy)))
    assert client.get("/v1/checkins", headers=make.headers(busy)).status_code == 200
    resp = client.post("/v1/checkins", json=checkin_body(), headers=make.headers(other))
    assert resp.status_code == 201


def test_password_change_attempts_are_limited_per_user(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN="2/minute").test_client()
    patient = make.user("patient")
    body = {"current_password": "a guess at it", "new_password": "a brand new passphrase"}
    for _ in range(2):
        resp = client.post("/v1/me/password", json=body, headers=make.headers(patient))
        assert resp.status_code == 422
    _assert_limited(client.post("/v1/me/password", json=body, headers=make.headers(patient)))


def test_limits_switched_off_by_environment_let_50_attempts_through(limited_app, monkeypatch):
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("RATELIMIT_LOGIN_IP", TINY)
    monkeypatch.setenv("RATELIMIT_REFRESH", TINY)
    app = limited_app(enabled=None)
    assert app.config["RATELIMIT_ENABLED"] is False
    assert app.config["RATELIMIT_LOGIN_IP"] == TINY
    client = app.test_client()
    for _ in range(50):
        # No password: refused by validation, after the limiter would have counted it.
        resp = client.post("/v1/auth/token", json={"email": "victim@example.org"})
        assert resp.status_code == 422
        assert client.post("/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401


def test_the_same_requests_are_refused_with_limits_on(limited_app):
    client = limited_app(RATELIMIT_LOGIN_IP=TINY).test_client()
    statuses = [
        client.post("/v1/auth/token", json={"email": "victim@example.org"}).status_code
        for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 429, 429]


def test_limited_endpoints_document_429(limited_app):
    spec = limited_app().extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    paths = spec["paths"]
    for path in ("/v1/auth/token", "/v1/auth/refresh", "/v1/auth/register", "/v1/me/password"):
        assert "429" in paths[path]["post"]["responses"], path
    assert "429" in paths["/v1/checkins"]["post"]["responses"]
    assert "429" in paths["/v1/me"]["patch"]["responses"]
    assert "429" not in paths["/v1/checkins"]["get"]["responses"]


def test_memory_counts_live_in_the_process_alone(limited_app):
    # A new app (a restarted or another process) starts from zero: why production uses Redis.
    for _ in range(2):
        client = limited_app(RATELIMIT_LOGIN_IP=TINY).test_client()
        for _ in range(3):
            assert client.post("/v1/auth/token", json={"email": "a@b.org"}).status_code == 422


def test_production_warns_that_memory_counts_multiply_limits(limited_app, monkeypatch, caplog):
    monkeypatch.setenv("SECRET_KEY", "z" * 40)
    monkeypatch.setenv("APP_ENV", "production")
    limited_app()
    assert "memory://" in caplog.text and "redis://" in caplog.text


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the shared Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is unreachable ({exc}): shared rate limits NOT TESTED"
        print(f"\n*** SKIPPED: {reason}", file=sys.stderr)
        pytest.skip(reason)
    prefix = f"test-limits-{uuid.uuid4().hex}"
    yield prefix
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_apps_on_redis_share_one_counter(limited_app, redis_prefix):
    config = {
        "RATELIMIT_LOGIN": TINY,
        "RATELIMIT_LOGIN_IP": "4/minute",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": redis_prefix,
    }
    # Each app connects anew (as another worker or host would): the counts carry over.
    statuses = [
        limited_app(**config)
        .test_client()
        .post("/v1/auth/token", json={"email": "a@b.org", "password": "a wrong guess"})
        .status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = client.keys(f"*{redis_prefix}*")
    # Counted per IP and per account, and the account's key holds no email address.
    assert len(keys) == 2 and all(b"a@b.org" not in key for key in keys)
    # Another prefix (another deployment on the same Redis) counts apart.
    other = limited_app(**config | {"RATELIMIT_KEY_PREFIX": redis_prefix + "-other"})
    assert other.test_client().post("/v1/auth/token", json={}).status_code == 422


def test_unreachable_storage_falls_back_to_counting_in_process(limited_app, caplog):
    app = limited_app(RATELIMIT_LOGIN_IP=TINY, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = app.test_client()
    statuses = [
        client.post("/v1/auth/token", json={"email": "a@b.org"}).status_code for _ in range(4)
    ]
    assert statuses == [422, 422, 422, 429]
    assert "storage unreachable" in caplog.text


def test_readiness_reports_the_rate_limit_storage(limited_app, redis_prefix):
    memory = limited_app().test_client().get("/readyz").get_json()
    assert memory["rate_limit_storage"] == {"kind": "memory", "shared": False, "reachable": True}
    shared = limited_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=redis_prefix)
    answer = shared.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["rate_limit_storage"] == {
        "kind": "redis",
        "shared": True,
        "reachable": True,
    }
    down = limited_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert down.status_code == 200 and down.get_json()["status"] == "ready"
    assert down.get_json()["rate_limit_storage"]["reachable"] is False
    assert "127.0.0.1" not in down.get_data(as_text=True)


def test_expensive_reads_are_limited_per_user(limited_app, make):
    client = limited_app(RATELIMIT_EXPENSIVE_READS="2/minute").test_client()
    patient, other = make.user("patient"), make.user("patient")
    urls = [f"/v1/patients/{patient.id}/report.html", "/v1/exports/checkins.csv"]
    for url in urls:
        assert client.get(url, headers=make.headers(patient)).status_code == 200
    for url in (f"/v1/patients/{patient.id}/report/chart.svg", f"/v1/patients/{patient.id}/fhir"):
        _assert_limited(client.get(url, headers=make.headers(patient)))
    # Cheap reads are not limited, and another user has a budget of their own.
    assert client.get("/v1/checkins", headers=make.headers(patient)).status_code == 200
    mine = f"/v1/patients/{other.id}/report.html"
    assert client.get(mine, headers=make.headers(other)).status_code == 200


def test_the_patient_list_shares_the_caseloads_budget(limited_app, make):
    """GET /v1/patients works out the caseload's figures page by page: the same budget."""
    client = limited_app(RATELIMIT_EXPENSIVE_READS="2/minute").test_client()
    therapist = make.user("therapist")
    make.link(make.user("patient"), therapist)
    headers = make.headers(therapist)
    assert client.get("/v1/patients", headers=headers).status_code == 200
    assert client.get("/v1/reports/caseload", headers=headers).status_code == 200
    _assert_limited(client.get("/v1/patients", headers=headers))


def test_limited_answers_carry_the_rate_limit_headers(limited_app, make):
    client = limited_app(RATELIMIT_WRITES="5/minute").test_client()
    patient = make.user("patient")
    resp = client.post("/v1/checkins", json=checkin_body(), headers=make.headers(patient))
    assert resp.status_code == 201
    assert (resp.headers["X-RateLimit-Limit"], resp.headers["X-RateLimit-Remaining"]) == ("5", "4")
    assert int(resp.headers["X-RateLimit-Reset"]) > 0


def test_ipv6_clients_are_counted_by_their_slash_64(limited_app):
    client = limited_app(RATELIMIT_LOGIN_IP=TINY).test_client()
    for n in range(3):
        assert _login(client, f"g{n}@example.org", ip=f"2001:db8:1:2::{n + 1}").status_code == 401
    _assert_limited(_login(client, "g3@example.org", ip="2001:db8:1:2:ffff::9"))
    assert _login(client, "g4@example.org", ip="2001:db8:1:3::1").status_code == 401


def test_sign_in_headers_report_the_address_limit_never_the_accounts(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN="5/minute", RATELIMIT_LOGIN_IP="50/minute").test_client()
    patient = make.user("patient")
    for _ in range(2):
        _login(client, patient.email, ip="198.51.100.70")
    probe = _login(client, patient.email, ip="198.51.100.71")
    assert probe.headers["X-RateLimit-Limit"] == "50"
    assert probe.headers["X-RateLimit-Remaining"] == "49"


def test_a_hostile_email_never_breaks_the_limiter(limited_app):
    client = limited_app(RATELIMIT_LOGIN_IP=TINY).test_client()
    for email in ("a\x00b@example.org", "x" * 5000, 42):
        resp = client.post("/v1/auth/token", json={"email": email, "password": "p"})
        assert resp.status_code == 422, resp.get_data(as_text=True)
    _assert_limited(client.post("/v1/auth/token", json={"email": "a@b.org", "password": "p"}))


def test_only_a_refusal_says_when_to_retry(limited_app, make):
    client = limited_app(RATELIMIT_LOGIN=TINY).test_client()
    user = make.user("patient")
    answers = [_login(client, user.email) for _ in range(4)]
    assert answers[0].status_code == 401 and "X-RateLimit-Limit" in answers[0].headers
    assert "Retry-After" not in answers[0].headers  # a counted request is not told to wait
    _assert_limited(answers[-1])
