"""Fixtures: an app on SQLite or PostgreSQL (TEST_DATABASE_URL), each test in a rolled-back
transaction, users and tokens made directly in the database."""

import fcntl
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.auth import issue_access_token
from api.db import make_engine
from api.services.passwords import hash_password
from models import CareLink, PatientProfile, User

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def _reset_postgres(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def migrate(url: str) -> str:
    """The database at `url` with the schema of `migrations/` (PostgreSQL's emptied first)."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        _reset_postgres(engine)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
    engine.dispose()
    return url


def sqlite_file_app(monkeypatch, path: str, **config) -> Iterator[Flask]:
    """The app on a SQLite file of its own at `path`, committing for real (other connections
    see its locks and its commits), with `config` on top; for a fixture to yield from."""
    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("DATABASE_URL", migrate(f"sqlite:///{path}"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app(config)
    app.config["DATABASE_PATH"] = path
    yield app
    app.extensions["db_engine"].dispose()


def writer_queue_is_free(database: str) -> bool:
    """Whether the queue the app's writers of SQLite file `database` wait in (api.db) is
    free: no writer holds it."""
    with open(database + "-writers.lock", "a+b") as queue:
        try:
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(queue, fcntl.LOCK_UN)
    return True


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return migrate(_database_url(tmp_path_factory))


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def password_hash():
    return hash_password(PASSWORD)


@pytest.fixture
def connection(engine):
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def app(monkeypatch, database_url, connection):
    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"RATELIMIT_ENABLED": False, "WEBHOOKS_ALLOW_PRIVATE": True})
    app.extensions["db_engine"].dispose()
    app.extensions["db_sessionmaker"] = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(connection) -> Session:
    """A session on the test's transaction, for arranging data and checking the outcome."""
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()


def unsaved_patient(name: str = "Patient") -> User:
    """A patient without a password or profile, not yet added, for tests whose rows are
    committed for real (the factory below works in the test's rolled-back transaction)."""
    return User(
        email=f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org",
        password_hash="!",
        role="patient",
        display_name=name,
    )


class Factory:
    """Makes rows directly (flush, never commit) and signs tokens for them."""

    def __init__(self, app, db: Session, password_hash: str):
        self.app, self.db, self.password_hash = app, db, password_hash

    def user(self, role: str = "patient", email: str | None = None, **profile) -> User:
        user = User(
            email=email or f"{role}-{uuid.uuid4().hex[:10]}@example.org",
            password_hash=self.password_hash,
            role=role,
            display_name=f"Test {role}",
            created_at=datetime.now(UTC) - timedelta(minutes=1),
            password_changed_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        if role == "patient":
            # Cleared by default, so that only the tests about clearance see that alert.
            profile.setdefault("medically_cleared_at", date(2020, 1, 1))
            user.profile = PatientProfile(**profile)
        self.db.add(user)
        self.db.flush()
        return user

    def link(self, patient: User, therapist: User, status: str = "active") -> CareLink:
        link = CareLink(patient_id=patient.id, therapist_id=therapist.id, status=status)
        self.db.add(link)
        self.db.flush()
        return link

    def headers(self, user: User | None, **extra) -> dict:
        headers = dict(extra)
        if user is not None:
            with self.app.app_context():
                token, _ = issue_access_token(user, family_id=None)
            headers["Authorization"] = f"Bearer {token}"
        return headers


@pytest.fixture
def make(app, db, password_hash) -> Factory:
    return Factory(app, db, password_hash)


def session_body(**overrides) -> dict:
    body = {
        "started_at": "2026-11-20T09:00:00+01:00",
        "duration_minutes": 50,
        "technique": "swedish",
        "pressure": "moderate",
        "areas": ["lower_back", "piriformis"],
        "acute_flare": False,
        "pain_before": 5,
        "pain_after": 4,
        "symptoms": {"numbness": 0, "tingling": 1, "weakness": 0, "side": "left"},
        "notes": "Felt looser afterwards.",
    }
    body.update(overrides)
    return body


def checkin_body(**overrides) -> dict:
    body = {
        "recorded_at": "2026-11-21T08:00:00+01:00",
        "pain": 4,
        "symptoms": {"numbness": 0, "tingling": 0, "weakness": 0, "side": "left"},
    }
    body.update(overrides)
    return body


def same_problem(resp) -> dict:
    """A problem body without its occurrence (``instance``, the request id): what two
    answers that must not tell apart an unknown id from someone else's compare."""
    return {k: v for k, v in resp.get_json().items() if k != "instance"}
