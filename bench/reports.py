"""Caseload report cost with 500 patients x 200 sessions: time and SQL statement count.

    python bench/reports.py [--patients 500] [--sessions 200] [--repeat 5]

Prints the caseload's and the patient list's median time and statements per request (with
the stored patient summaries, and with every one stale), and as a bare baseline, the time
of one grouped SQL query over the same sessions in the same run.
"""

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import event, insert, select, text, update  # noqa: E402

import analyzer  # noqa: E402
from api import create_app  # noqa: E402
from api.auth import issue_access_token  # noqa: E402
from api.db import analyzer_config, session_scope  # noqa: E402
from api.services import analysis  # noqa: E402
from models import CareLink, MassageSession, PatientProfile, PatientSummary, User  # noqa: E402

TECHNIQUES = ("swedish", "myofascial_release", "trigger_point", "deep_tissue")
PRESSURES = ("light", "moderate", "firm", "deep")


def build(app, patients: int, sessions: int) -> User:
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with session_scope(app) as db_session:
        therapist = User(
            email="bench-therapist@example.org",
            password_hash="!",
            role="therapist",
            display_name="Bench therapist",
        )
        db_session.add(therapist)
        db_session.flush()
        for p in range(patients):
            patient = User(
                email=f"bench-{p}@example.org",
                password_hash="!",
                role="patient",
                display_name=f"Patient {p:04d}",
            )
            patient.profile = PatientProfile(medically_cleared_at=date(2020, 1, 1))
            db_session.add(patient)
            db_session.flush()
            db_session.add(CareLink(patient_id=patient.id, therapist_id=therapist.id))
            level = rng.uniform(3, 7)
            rows = []
            for i in range(sessions):
                before = max(0, min(10, round(level + rng.gauss(0, 0.8))))
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "patient_id": patient.id,
                        "started_at": start + timedelta(days=3 * i, hours=rng.uniform(0, 8)),
                        "duration_minutes": 50,
                        "technique": rng.choice(TECHNIQUES),
                        "pressure": rng.choice(PRESSURES),
                        "areas": ["lower_back"],
                        "acute_flare": False,
                        "pain_before": before,
                        "pain_after": max(0, min(10, before + round(rng.gauss(-0.8, 1)))),
                        "numbness": 0,
                        "tingling": 0,
                        "weakness": 0,
                        "bladder_bowel_change": False,
                        "saddle_numbness": False,
                        "version": 1,
                        "created_at": start,
                        "updated_at": start,
                    }
                )
            db_session.execute(insert(MassageSession), rows)
        db_session.commit()
        # The summaries every write keeps (the rows above bypassed the write path).
        ids = list(db_session.scalars(select(User.id).where(User.role == "patient")))
        cfg = analyzer_config(app.config.get("ANALYZER_OVERRIDES"))
        found = analysis.recent_reports(db_session=db_session, patient_ids=ids, cfg=cfg)
        for patient_id, reports in found.items():
            summary = analyzer.summarize(reports, cfg)
            analysis.store_summary(
                db_session=db_session, patient_id=patient_id, summary=summary, cfg=cfg
            )
        db_session.commit()
        return therapist


def measure(client, engine, path: str, headers: dict, repeat: int) -> tuple[float, int]:
    times, counts = [], []
    for _ in range(repeat):
        statements = []

        def count(*_args, statements=statements):
            statements.append(1)

        event.listen(engine, "before_cursor_execute", count)
        began = time.perf_counter()
        resp = client.get(path, headers=headers)
        times.append(time.perf_counter() - began)
        event.remove(engine, "before_cursor_execute", count)
        assert resp.status_code == 200, resp.get_json()
        counts.append(len(statements))
    return statistics.median(times), max(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/reports.sqlite3"
    os.environ.update({"DATABASE_URL": url, "APP_ENV": "development"})
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    app = create_app()
    logging.getLogger("sciatica_care.requests").setLevel(logging.WARNING)  # quiet
    began = time.perf_counter()
    therapist = build(app, args.patients, args.sessions)
    print(
        f"built {args.patients} patients x {args.sessions} sessions "
        f"in {time.perf_counter() - began:.1f} s ({url.split(':')[0]})"
    )
    with app.app_context():
        headers = {"Authorization": f"Bearer {issue_access_token(therapist, family_id=None)[0]}"}
    engine = app.extensions["db_engine"]
    client = app.test_client()
    for path in ("/v1/reports/caseload", "/v1/patients?limit=200"):
        seconds, statements = measure(client, engine, path, headers, args.repeat)
        print(f"{path:<24} median {seconds * 1000:8.1f} ms, {statements} SQL statements")
    # After a ruleset or threshold change, until writes or `flask analyze` store them again.
    with engine.begin() as conn:
        conn.execute(update(PatientSummary).values(basis="stale"))
    seconds, statements = measure(client, engine, "/v1/reports/caseload", headers, args.repeat)
    print(
        f"{'  every summary stale':<24} median {seconds * 1000:8.1f} ms, "
        f"{statements} SQL statements (computed from the reports)"
    )
    bare = []
    with engine.connect() as conn:
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            conn.execute(
                text(
                    "SELECT patient_id, max(started_at), avg(pain_before) "
                    "FROM sessions GROUP BY patient_id"
                )
            ).all()
            bare.append(time.perf_counter() - t0)
    print(
        f"bare grouped query      median {statistics.median(bare) * 1000:8.1f} ms, 1 SQL statement"
    )


if __name__ == "__main__":
    main()
