"""Configuration from the environment: safe defaults, refusal of unsafe production setups."""

import gc
import os
import runpy
import subprocess
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api import create_app
from api.config import DEV_SECRET, ConfigError
from api.db import make_engine
from tests.conftest import ROOT, writer_queue_is_free


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in (
        "APP_ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "RATELIMIT_ENABLED",
        "RATELIMIT_LOGIN",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_STRATEGY",
        "REFRESH_REUSE_GRACE_SECONDS",
        "DB_STATEMENT_TIMEOUT_MS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/app.sqlite3")
    monkeypatch.setenv("APP_ENV", "development")
    return monkeypatch


@pytest.mark.parametrize("secret", [None, DEV_SECRET, "short-secret"])
def test_production_refuses_missing_default_or_weak_secret(env, secret):
    env.setenv("APP_ENV", "production")
    if secret is not None:
        env.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_starts_with_a_real_secret(env):
    env.setenv("APP_ENV", "production")
    env.setenv("SECRET_KEY", "x" * 48)
    app = create_app()
    assert app.config["APP_ENV"] == "production" and not app.config["TESTING"]


def test_without_app_env_and_secret_the_server_refuses_to_start(env):
    # Unset APP_ENV is production: nobody gets the published development key by forgetting it.
    env.delenv("APP_ENV")
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        create_app()


def test_without_app_env_a_strong_secret_starts_in_production_mode(env):
    env.delenv("APP_ENV")
    env.setenv("SECRET_KEY", "y" * 40)
    app = create_app()
    assert app.config["APP_ENV"] == "production" and app.config["SECRET_KEY"] == "y" * 40
    assert app.config["API_DOCS"] is False


@pytest.mark.parametrize("mode", ["development", "testing"])
def test_only_explicit_development_or_testing_signs_with_the_development_key(env, mode):
    env.setenv("APP_ENV", mode)
    assert create_app().config["SECRET_KEY"] == DEV_SECRET


def test_development_defaults_to_sqlite_file_under_instance(env):
    env.delenv("DATABASE_URL")
    app = create_app()
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["DATABASE_URL"].endswith("instance/sciatica-care.sqlite3")
    assert app.config["SECRET_KEY"] == DEV_SECRET


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("true", True)])
def test_ratelimit_enabled_flag_is_parsed(env, raw, expected):
    env.setenv("RATELIMIT_ENABLED", raw)
    assert create_app().config["RATELIMIT_ENABLED"] is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_ENV", "staging"),
        ("RATELIMIT_ENABLED", "maybe"),
        ("ACCESS_TOKEN_TTL_SECONDS", "ten"),
        ("IDEMPOTENCY_TTL_SECONDS", "3600"),
        ("RATELIMIT_LOGIN", "ten a minute"),
        ("RATELIMIT_WRITES", "120/fortnight"),
        ("RATELIMIT_STRATEGY", "leaky-bucket"),
        ("REFRESH_REUSE_GRACE_SECONDS", "twenty"),
        ("DB_STATEMENT_TIMEOUT_MS", "30s"),
        ("WEBHOOKS_LEASE_SECONDS", "5"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name if name != "RATELIMIT_ENABLED" else "boolean"):
        create_app()


def test_token_lifetimes_come_from_environment(env):
    env.setenv("ACCESS_TOKEN_TTL_SECONDS", "120")
    env.setenv("REFRESH_TOKEN_TTL_SECONDS", "3600")
    app = create_app()
    assert app.config["ACCESS_TOKEN_TTL"].total_seconds() == 120
    assert app.config["REFRESH_TOKEN_TTL"].total_seconds() == 3600


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite3", busy_timeout_ms=4321)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 4321
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()


def test_sqlite_writers_queue_for_their_turn_and_the_turn_passes_at_commit(tmp_path):
    """A second writer waits on the writer queue (not in SQLite's polling back-off) until
    the first commits; then it runs and sees the first one's row."""
    engine = make_engine(f"sqlite:///{tmp_path}/q.sqlite3", busy_timeout_ms=60_000)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    first_in, second_began, seen = threading.Event(), threading.Event(), []

    def second_writer():
        first_in.wait(10)
        with engine.begin() as conn:
            second_began.set()
            seen.append(conn.execute(text("SELECT count(*) FROM t")).scalar())
            conn.execute(text("INSERT INTO t VALUES (2)"))

    thread = threading.Thread(target=second_writer)
    thread.start()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        first_in.set()
        # The second writer is queued behind this transaction: it has not begun, and the
        # queue's lock is taken.
        assert not second_began.wait(0.5)
        assert not writer_queue_is_free(f"{tmp_path}/q.sqlite3")
    thread.join(10)
    assert writer_queue_is_free(f"{tmp_path}/q.sqlite3")  # once every writer is done
    assert seen == [1]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t ORDER BY rowid")).scalars().all() == [1, 2]
    engine.dispose()


@pytest.mark.parametrize("how", ["dropped unclosed", "invalidated"])
def test_a_writer_connection_lost_mid_write_gives_back_the_writers_lock(tmp_path, how):
    """A write whose connection is dropped without closing it (the pool resets it) or
    invalidated (a broken connection) does not leave the writers' lock behind: the next
    writer goes on at once, instead of waiting until that connection writes again."""
    database = f"{tmp_path}/lost.sqlite3"
    engine = make_engine(f"sqlite:///{database}", busy_timeout_ms=60_000)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))

    def write_and_lose():
        conn = engine.connect()
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert not writer_queue_is_free(database)
        if how == "invalidated":
            conn.invalidate()
            conn.close()  # raised PendingRollbackError before

    write_and_lose()
    gc.collect()
    assert writer_queue_is_free(database)
    with engine.begin() as conn:  # the next writer, which the lost write did not commit
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [2]
    engine.dispose()


def test_analyzer_overrides_come_from_environment_and_are_validated(env):
    env.setenv("ANALYZER_OVERRIDES", '{"severe_pain_min": 9}')
    assert create_app().config["ANALYZER_OVERRIDES"] == {"severe_pain_min": 9}
    for bad in ('{"no_such_threshold": 1}', "[1]", "{not json", '{"severe_pain_min": "high"}'):
        env.setenv("ANALYZER_OVERRIDES", bad)
        with pytest.raises(ConfigError, match="ANALYZER_OVERRIDES"):
            create_app()


def test_rate_limits_grace_and_statement_timeout_have_defaults(env):
    config = create_app().config
    assert config["RATELIMIT_LOGIN"] == "5/minute,20/hour,100/day"
    assert config["RATELIMIT_LOGIN_IP"] == "60/minute,600/hour"
    assert config["RATELIMIT_EXPENSIVE_READS"] == "30/minute,300/hour"
    assert config["RATELIMIT_REGISTER"] == "5/minute,20/hour"
    assert config["RATELIMIT_REFRESH"] == "30/minute,300/hour"
    assert config["RATELIMIT_WRITES"] == "120/minute"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["RATELIMIT_STRATEGY"] == "fixed-window"
    assert config["REFRESH_REUSE_GRACE"].total_seconds() == 20
    assert config["DB_STATEMENT_TIMEOUT_MS"] == 30000


def test_rate_limits_grace_and_statement_timeout_come_from_environment(env):
    env.setenv("RATELIMIT_LOGIN", "5/minute;20/hour")
    env.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    env.setenv("RATELIMIT_STRATEGY", "moving-window")
    env.setenv("REFRESH_REUSE_GRACE_SECONDS", "5")
    env.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    config = create_app().config
    assert config["RATELIMIT_LOGIN"] == "5/minute;20/hour"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert config["RATELIMIT_STRATEGY"] == "moving-window"
    assert config["REFRESH_REUSE_GRACE"].total_seconds() == 5
    assert config["DB_STATEMENT_TIMEOUT_MS"] == 1500


SETTING_SOURCE = text("SELECT source FROM pg_settings WHERE name = 'statement_timeout'")


@pytest.fixture
def postgres_url():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("statement_timeout is a PostgreSQL setting; set TEST_DATABASE_URL to test it")
    return url


def test_app_engine_sets_the_statement_timeout_on_postgres(env, postgres_url):
    env.setenv("DATABASE_URL", postgres_url)
    env.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    engine = create_app().extensions["db_engine"]
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
        assert conn.execute(SETTING_SOURCE).scalar() == "client"
    engine.dispose()


def test_statement_timeout_cancels_a_slow_query_and_spares_a_quick_one(postgres_url):
    engine = make_engine(postgres_url, statement_timeout_ms=200)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_sleep(0.01), 1")).one()[1] == 1
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(2)"))
    engine.dispose()


def test_engine_without_a_statement_timeout_keeps_the_server_default(postgres_url):
    # Migrations build their engine this way: a long index build is not cut short.
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(SETTING_SOURCE).scalar() != "client"
    engine.dispose()


def test_trusted_proxies_take_the_client_address_from_x_forwarded_for(env):
    from flask import request

    env.setenv("TRUSTED_PROXIES", "1")
    app = create_app()

    @app.get("/whoami")
    def whoami():
        return {"ip": request.remote_addr}

    resp = app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert resp.get_json() == {"ip": "203.0.113.9"}
    env.setenv("TRUSTED_PROXIES", "0")
    direct = create_app()
    direct.add_url_rule("/whoami", view_func=whoami)
    resp = direct.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert resp.get_json() == {"ip": "10.0.0.1"}


@pytest.mark.parametrize(
    ("concurrency", "threads", "expected"),
    [(None, None, None), ("", "", None), ("3", "4", (3, 4))],  # None: the defaults
)
def test_gunicorn_serves_with_processes_unless_told_otherwise(
    monkeypatch, tmp_path, concurrency, threads, expected
):
    # Set, so that reading the settings neither makes a folder nor changes this process.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name, value in (("WEB_CONCURRENCY", concurrency), ("GUNICORN_THREADS", threads)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    expected = expected or (2 * settings["_cores"]() + 1, 1)
    assert (settings["workers"], settings["threads"]) == expected
    assert settings["worker_class"] == "gthread"  # heartbeat kept during a long export


def test_env_example_read_by_a_shell_gives_the_defaults_the_app_has(env):
    """`set -a; . ./.env` in a POSIX shell: every value arrives whole (a `;` in an unquoted
    rate limit ended the line there) and equals the app's own default."""
    shell = subprocess.run(
        [
            "sh",
            "-c",
            'set -a; . "$1" >/dev/null 2>&1 || exit 3; env -0',
            "sh",
            ROOT / ".env.example",
        ],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    read = dict(line.split("=", 1) for line in shell.stdout.decode().split("\0") if "=" in line)
    defaults = create_app().config
    for name in ("RATELIMIT_LOGIN", "RATELIMIT_LOGIN_IP", "RATELIMIT_EXPENSIVE_READS"):
        assert read[name] == defaults[name], name
    assert read["RATELIMIT_REGISTER"] == defaults["RATELIMIT_REGISTER"]
    assert read["RATELIMIT_REFRESH"] == defaults["RATELIMIT_REFRESH"]
