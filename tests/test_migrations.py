"""Migrations build the whole schema from empty, match the models, and round-trip."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import column, insert, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

import analyzer
from api.db import make_engine
from models import (
    Alert,
    AlertAcknowledgement,
    Base,
    CheckIn,
    MassageSession,
    PatientSummary,
    User,
)
from models.alert import SEVERITIES
from tests.conftest import ROOT


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = make_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(url: str, action, *args) -> None:
    engine = make_engine(url)
    config = Config(str(ROOT / "alembic.ini"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        action(config, *args)
        connection.commit()
    engine.dispose()


def _diff(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    return tables


def test_upgrade_from_empty_matches_models_and_round_trips(empty_database_url):
    url = empty_database_url
    _run(url, command.upgrade, "head")
    assert set(Base.metadata.tables) <= _tables(url)
    assert _diff(url) == []
    _run(url, command.downgrade, "base")
    assert _tables(url) <= {"alembic_version"}
    _run(url, command.upgrade, "head")
    assert _diff(url) == []


def test_summaries_migration_backfills_every_patient_with_reports(empty_database_url):
    url = empty_database_url
    _run(url, command.upgrade, "0004")
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    worse, calm, empty = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pains = {worse: (3, 3, 4, 3, 3, 3, 4, 3, 6, 6, 7, 7), calm: (5, 4, 5)}
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(User.__table__),
            [
                {
                    "id": pid,
                    "email": f"{pid}@example.org",
                    "password_hash": "!",
                    "role": "patient",
                    "display_name": "Patient",
                    "created_at": start,
                    "password_changed_at": start,
                }
                for pid in (worse, calm, empty)
            ],
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "patient_id": pid,
                "started_at": start + timedelta(days=3 * i),
                "duration_minutes": 50,
                "technique": "swedish",
                "pressure": "light",
                "areas": ["lower_back"],
                "acute_flare": False,
                "pain_before": pain,
                "pain_after": pain - 1,
                "numbness": 0,
                "tingling": 0,
                "weakness": 0,
                "bladder_bowel_change": False,
                "saddle_numbness": False,
                "version": 1,
                "created_at": start,
                "updated_at": start,
                "deleted_at": None,
            }
            for pid, series in pains.items()
            for i, pain in enumerate(series)
        ]
        # A deleted latest session does not count.
        rows.append(
            rows[-1]
            | {
                "id": uuid.uuid4(),
                "started_at": start + timedelta(days=90),
                "pain_before": 9,
                "deleted_at": start,
            }
        )
        conn.execute(insert(MassageSession.__table__), rows)
    _run(url, command.upgrade, "head")
    with engine.connect() as conn:
        stored = {row.patient_id: row for row in conn.execute(select(PatientSummary.__table__))}
    engine.dispose()
    assert set(stored) == {worse, calm}
    assert (stored[worse].trend, stored[worse].latest_pain_before) == ("worsening", 7)
    assert (stored[calm].trend, stored[calm].latest_pain_before) == ("stable", 5)
    assert stored[calm].last_session_at == start + timedelta(days=6)
    assert stored[calm].basis == analyzer.summary_basis(analyzer.DEFAULT_CONFIG)


def test_rebuilding_the_outbox_keeps_every_delivery_on_sqlite(empty_database_url):
    """0008 alters outbox_events; on SQLite that copies and drops the table, which must not
    cascade into the deliveries that reference it."""
    url = empty_database_url
    _run(url, command.upgrade, "0007")
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    user, alert, event, subscription = (uuid.uuid4() for _ in range(4))
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(User.__table__).values(_user_row(user, "patient", now)))
        # The alerts table as 0007 has it: without the version 0010 adds (and fills in).
        alerts_then = table(
            "alerts", *(column(c.name, c.type) for c in Alert.__table__.c if c.name != "version")
        )
        conn.execute(
            insert(alerts_then).values(
                **_alert_row(alert, user, now, rule="post_session_worsening", severity="warning")
            )
        )
        conn.execute(
            text(
                "INSERT INTO webhook_subscriptions (id, owner_id, url, events, secret, status,"
                " created_at) VALUES (:id, :owner, 'https://example.org/h', '[]', 's',"
                " 'active', :now)"
            ),
            {"id": _stored(engine, subscription), "owner": _stored(engine, user), "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO outbox_events (id, type, alert_id, patient_id, payload, created_at)"
                " VALUES (:id, 'alert.raised', :alert, :patient, '{}', :now)"
            ),
            {
                "id": _stored(engine, event),
                "alert": _stored(engine, alert),
                "patient": _stored(engine, user),
                "now": now,
            },
        )
        conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, subscription_id, event_id, status, attempts,"
                " next_attempt_at, created_at) VALUES (:id, :sub, :event, 'pending', 0, :now,"
                " :now)"
            ),
            {
                "id": _stored(engine, uuid.uuid4()),
                "sub": _stored(engine, subscription),
                "event": _stored(engine, event),
                "now": now,
            },
        )
    _run(url, command.upgrade, "head")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
        events = conn.execute(text("SELECT count(*) FROM outbox_events")).scalar_one()
        versions = conn.execute(text("SELECT version FROM alerts")).scalars().all()
        enforced = (
            conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
            if engine.dialect.name == "sqlite"
            else 1
        )
    engine.dispose()
    assert (kept, events, enforced) == (1, 1, 1)
    assert versions == [1]  # 0010: an alert written before it starts at version 1


def _user_row(user: uuid.UUID, role: str, now: datetime) -> dict:
    """A user's columns as every revision since 0006 has them."""
    return {
        "id": user,
        "email": f"{role}-{user.hex[:8]}@example.org",
        "password_hash": "!",
        "role": role,
        "display_name": role,
        "created_at": now,
        "password_changed_at": now,
    }


def _alert_row(alert: uuid.UUID, patient: uuid.UUID, now: datetime, *, rule, severity) -> dict:
    """An open alert's columns as every revision since 0002 has them."""
    return {
        "id": alert,
        "patient_id": patient,
        "rule": rule,
        "severity": severity,
        "severity_rank": SEVERITIES.index(severity),
        "status": "open",
        "title": "t",
        "message": "m",
        "clinician_message": "c",
        "recommendation": "r",
        "evidence": {},
        "occurrences": 1,
        "first_seen_at": now,
        "last_seen_at": now,
        "ruleset_version": "v",
        "created_at": now,
        "updated_at": now,
    }


def _stored(engine, value: uuid.UUID) -> str:
    # SQLite keeps uuids as 32 hex digits, PostgreSQL as uuid.
    return value.hex if engine.dialect.name == "sqlite" else str(value)


def test_acknowledgements_migration_keeps_each_acknowledged_alerts_one(empty_database_url):
    """0011: an alert acknowledged before it gives one acknowledgement, at its severity and
    waiting from its first sighting; an alert never acknowledged gives none."""
    url = empty_database_url
    _run(url, command.upgrade, "0010")
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    patient, therapist, acknowledged, waiting = (uuid.uuid4() for _ in range(4))
    engine = make_engine(url)
    with engine.begin() as conn:
        for user, role in ((patient, "patient"), (therapist, "therapist")):
            conn.execute(insert(User.__table__).values(_user_row(user, role, now)))
        for alert, rule, ack in ((acknowledged, "severe_pain", True), (waiting, "flare", False)):
            conn.execute(
                insert(Alert.__table__).values(
                    **_alert_row(alert, patient, now, rule=rule, severity="caution")
                    | {"status": "acknowledged" if ack else "open"},
                    acknowledged_by=therapist if ack else None,
                    acknowledged_at=now + timedelta(minutes=5) if ack else None,
                    acknowledgement_outcome="overridden" if ack else None,
                    acknowledgement_reason="Seen before." if ack else None,
                )
            )
    _run(url, command.upgrade, "head")
    with engine.connect() as conn:
        kept = conn.execute(select(AlertAcknowledgement)).all()
    engine.dispose()
    assert [
        (row.alert_id, row.severity, row.outcome, row.reason, row.acknowledged_by) for row in kept
    ] == [(acknowledged, "caution", "overridden", "Seen before.", therapist)]
    [row] = kept
    assert (row.opened_at, row.acknowledged_at, row.reopened_at) == (
        now,
        now + timedelta(minutes=5),
        None,
    )


def test_nerve_grades_migration_keeps_grades_and_lets_a_report_leave_them_out(empty_database_url):
    """0012: grades stored before keep their values; a report may hold none (NULL) while
    the 0-3 checks still hold; downgrading stores a grade left out as 0, the old meaning."""
    url = empty_database_url
    _run(url, command.upgrade, "0011")
    now = datetime(2026, 12, 8, 9, tzinfo=UTC)
    patient, graded, pain_only = (uuid.uuid4() for _ in range(3))

    def checkin(report: uuid.UUID, **grades) -> dict:
        return {
            "id": report,
            "patient_id": patient,
            "recorded_at": now,
            "pain": 4,
            "bladder_bowel_change": False,
            "saddle_numbness": False,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            **grades,
        }

    def grades(conn) -> dict:
        rows = conn.execute(select(CheckIn.__table__))
        return {row.id: (row.numbness, row.tingling, row.weakness) for row in rows}

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(User.__table__).values(_user_row(patient, "patient", now)))
        conn.execute(
            insert(CheckIn.__table__).values(checkin(graded, numbness=1, tingling=2, weakness=0))
        )
    _run(url, command.upgrade, "head")
    with engine.begin() as conn:
        conn.execute(insert(CheckIn.__table__).values(checkin(pain_only)))
        assert grades(conn) == {graded: (1, 2, 0), pain_only: (None, None, None)}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(CheckIn.__table__).values(checkin(uuid.uuid4(), weakness=4)))
    _run(url, command.downgrade, "0011")
    with engine.connect() as conn:
        assert grades(conn) == {graded: (1, 2, 0), pain_only: (0, 0, 0)}
    engine.dispose()
