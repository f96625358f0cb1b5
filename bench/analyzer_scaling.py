"""Write latency of a check-in with 10 and with 5,000 earlier reports: analysis reads a window.

    python bench/analyzer_scaling.py [--writes 200] [--database-url URL]

Prints the median and p95 latency of POST /v1/checkins for a patient with a short history
and for one with a long history, measured alternately in the same run, and their ratio
(target: <= 1.2).
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

from api import create_app  # noqa: E402
from api.auth import issue_access_token  # noqa: E402
from api.db import session_scope  # noqa: E402
from models import CheckIn, MassageSession, PatientProfile, User  # noqa: E402


def _patient(db_session, history: int, start: datetime) -> User:
    user = User(
        email=f"bench-{uuid.uuid4().hex[:8]}@example.org",
        password_hash="!",
        role="patient",
        display_name="Bench patient",
    )
    user.profile = PatientProfile(medically_cleared_at=date(2020, 1, 1))
    db_session.add(user)
    db_session.flush()
    rows = []
    for i in range(history):
        felt = start + timedelta(hours=12 * i)
        pain = max(0, min(10, round(random.gauss(5, 0.8))))
        if i % 2:
            rows.append(CheckIn(patient_id=user.id, recorded_at=felt, pain=pain))
        else:
            rows.append(
                MassageSession(
                    patient_id=user.id,
                    started_at=felt,
                    duration_minutes=50,
                    technique="swedish",
                    pressure="moderate",
                    areas=["lower_back"],
                    pain_before=pain,
                    pain_after=max(0, pain - 1),
                )
            )
    db_session.add_all(rows)
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--long", type=int, default=5000)
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    random.seed(7)
    workdir = tempfile.mkdtemp(prefix="bench-")
    url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.update({"DATABASE_URL": url, "APP_ENV": "development", "RATELIMIT_ENABLED": "false"})
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    app = create_app()
    logging.getLogger("sciatica_care.requests").setLevel(logging.WARNING)  # quiet
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with session_scope(app) as db_session:
        short = _patient(
            db_session, args.short, start + timedelta(hours=12 * (args.long - args.short))
        )
        long = _patient(db_session, args.long, start)
        db_session.commit()
        with app.app_context():
            tokens = {
                "short": issue_access_token(short, family_id=None)[0],
                "long": issue_access_token(long, family_id=None)[0],
            }
    client = app.test_client()
    latest = start + timedelta(hours=12 * args.long)
    timings: dict[str, list[float]] = {"short": [], "long": []}
    for i in range(args.writes):
        for name in ("short", "long") if i % 2 else ("long", "short"):
            body = {
                "recorded_at": (latest + timedelta(hours=i)).isoformat(),
                "pain": random.randint(3, 6),
            }
            began = time.perf_counter()
            resp = client.post(
                "/v1/checkins", json=body, headers={"Authorization": f"Bearer {tokens[name]}"}
            )
            timings[name].append(time.perf_counter() - began)
            assert resp.status_code == 201, resp.get_json()
    print(f"database: {url.split(':')[0]}; {args.writes} check-in writes per patient")
    for name, history in (("short", args.short), ("long", args.long)):
        values = sorted(timings[name])
        p95 = values[int(len(values) * 0.95) - 1]
        print(
            f"{history:>6} earlier reports: median {statistics.median(values) * 1000:6.2f} ms, "
            f"p95 {p95 * 1000:6.2f} ms"
        )
    ratio = statistics.median(timings["long"]) / statistics.median(timings["short"])
    print(f"ratio long/short (median): {ratio:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
