"""Streaming CSV export of 1,000,000 sessions through gunicorn, against the database's raw dump.

    python bench/export.py [--rows 1000000] [--patients 1000] [--database-url URL]

Builds a database with `alembic upgrade head` and bulk INSERT ... SELECT (a temporary SQLite
file by default; with a PostgreSQL URL, a temporary database on that server, dropped at the
end), starts the app under gunicorn with the repo's gunicorn.conf.py (one worker) on
127.0.0.1, and streams GET /v1/exports/sessions.csv as an admin with `requests`. Prints
rows/s and the worker's peak RSS (VmHWM), then the same for the raw dump measured in the
same run in a child process (SQLite: Python's sqlite3 module writing `SELECT * FROM
sessions` with csv.writer, what `sqlite3 -csv` does; PostgreSQL: `COPY sessions TO STDOUT
CSV`), and the ratio of the rates. Targets: peak RSS < 150 MB; export >= 30 % of the raw rate.
"""

import argparse
import csv
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# Only the standard library up here: the raw-dump child must not carry the app's imports.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
TECHNIQUES = ("swedish", "myofascial_release", "trigger_point", "deep_tissue", "sports", "shiatsu")
PRESSURES = ("light", "moderate", "firm", "deep")
NOTES = ("Felt looser afterwards.", "Tight piriformis, eased.", "=HYPERLINK(1)")
COLUMNS = (
    "id, patient_id, therapist_id, started_at, duration_minutes, technique, pressure, areas, "
    "acute_flare, pain_before, pain_after, numbness, tingling, weakness, symptom_side, "
    "bladder_bowel_change, saddle_numbness, notes, created_at, updated_at, deleted_at, version"
)


def _case(expression: str, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE {expression} % {len(values)} {whens} END"


def _notes(i: str) -> str:
    return f"CASE WHEN {i} % 4 = 3 THEN NULL ELSE {_case(i, NOTES)} END"


SQLITE_FILL = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :rows)
INSERT INTO sessions ({COLUMNS})
SELECT lower(hex(randomblob(16))), p.id, NULL,
       strftime('%Y-%m-%d %H:%M:%S', '2005-01-01', '+' || (i * 600) || ' seconds') || '.000000',
       50, {_case("i", TECHNIQUES)}, {_case("i", PRESSURES)}, '["lower_back","piriformis"]',
       i % 9 = 0, abs(random()) % 11, CASE WHEN i % 10 = 0 THEN NULL ELSE abs(random()) % 11 END,
       i % 4, i % 3, 0, CASE WHEN i % 2 THEN 'left' ELSE NULL END, 0, 0, {_notes("i")},
       '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000', NULL, 1
FROM n JOIN bench_patients AS p ON p.k = n.i % :patients
"""

POSTGRES_FILL = f"""
INSERT INTO sessions ({COLUMNS})
SELECT gen_random_uuid(), p.id, NULL,
       timestamptz '2005-01-01 00:00:00+00' + i * interval '10 minutes',
       50, {_case("i", TECHNIQUES)}, {_case("i", PRESSURES)}, '["lower_back","piriformis"]',
       i % 9 = 0, floor(random() * 11), CASE WHEN i % 10 = 0 THEN NULL
       ELSE floor(random() * 11) END,
       i % 4, i % 3, 0, CASE WHEN i % 2 = 1 THEN 'left' END, false, false, {_notes("i")},
       timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00', NULL, 1
FROM generate_series(0, :rows - 1) AS i JOIN bench_patients AS p ON p.k = i % :patients
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_postgres_database(url: str, prefix: str = "bench_export") -> tuple[str, str]:
    """A fresh database on the server of `url`; returns its URL and its name."""
    from sqlalchemy import create_engine, make_url, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fill(app, *, rows: int, patients: int):
    """Patients and an admin through the models, then the sessions in one INSERT ... SELECT."""
    from sqlalchemy import text

    from api.db import session_scope
    from models import PatientProfile, User

    with session_scope(app) as db_session:
        admin = User(
            email="admin@bench.example",
            password_hash="!",  # noqa: S106 - no password: this account cannot sign in
            role="admin",
            display_name="Bench admin",
        )
        people = [
            User(
                email=f"patient-{k}@bench.example",
                password_hash="!",  # noqa: S106
                role="patient",
                display_name=f"Bench patient {k}",
                profile=PatientProfile(),
            )
            for k in range(patients)
        ]
        db_session.add_all([admin, *people])
        db_session.flush()
        sqlite = db_session.bind.dialect.name == "sqlite"
        kind = "TEXT" if sqlite else "UUID"  # as the Uuid type stores it: hex text on SQLite
        db_session.execute(text(f"CREATE TEMPORARY TABLE bench_patients (k INTEGER, id {kind})"))
        ids = [{"k": k, "id": p.id.hex if sqlite else p.id} for k, p in enumerate(people)]
        db_session.execute(text("INSERT INTO bench_patients (k, id) VALUES (:k, :id)"), ids)
        fill = SQLITE_FILL if sqlite else POSTGRES_FILL
        db_session.execute(text(fill), {"rows": rows, "patients": patients})
        db_session.execute(text("DROP TABLE bench_patients"))
    if not sqlite:
        # Statistics, as autovacuum keeps them on a live table: without them the planner
        # takes a bulk-loaded table for a few rows and sorts the export on disk.
        with app.extensions["db_engine"].connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return admin


def _worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    import requests

    process = subprocess.Popen(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", "api:create_app()"],
        cwd=ROOT,
        env=env | {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def _measure_export(env: dict, token: str) -> dict:
    import requests

    port = _free_port()
    server = _start_gunicorn(env, port)
    try:
        worker = _worker_pid(server.pid)
        url = f"http://127.0.0.1:{port}/v1/exports/sessions.csv"
        headers = {"Authorization": f"Bearer {token}"}
        requests.get(url, params={"patient_id": str(uuid.uuid4())}, headers=headers, timeout=30)
        idle_kb = _status_kb(worker, "VmRSS")
        # Reset the worker's high-water mark, so VmHWM is the peak during the export alone
        # (the app's imports peak higher while loading than they stay resident).
        Path(f"/proc/{worker}/clear_refs").write_text("5")
        lines = size = 0
        began = time.perf_counter()
        with requests.get(url, headers=headers, stream=True, timeout=600) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(chunk_size=1 << 16):
                lines += chunk.count(b"\n")
                size += len(chunk)
        seconds = time.perf_counter() - began
        peak_kb = _status_kb(worker, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "rows": lines - 1,
        "seconds": seconds,
        "bytes": size,
        "peak_kb": peak_kb,
        "idle_kb": idle_kb,
    }


def _raw_dump(backend: str, target: str) -> dict:
    """In this (child) process: the database's own CSV dump of the table to /dev/null."""
    began = time.perf_counter()
    rows = 0
    with open(os.devnull, "w", newline="") as sink:
        if backend == "sqlite":
            import sqlite3

            conn = sqlite3.connect(target)
            cursor = conn.execute("SELECT * FROM sessions")
            writer = csv.writer(sink)
            writer.writerow([d[0] for d in cursor.description])
            while batch := cursor.fetchmany(2000):
                writer.writerows(batch)
                rows += len(batch)
            conn.close()
        else:
            import psycopg

            with psycopg.connect(target) as conn, conn.cursor() as cur:
                with cur.copy("COPY sessions TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                    for block in copy:
                        data = bytes(block)
                        rows += data.count(b"\n")
                        sink.write(data.decode())
                rows -= 1
    seconds = time.perf_counter() - began
    # VmHWM, not ru_maxrss: getrusage keeps the forking parent's peak across exec.
    return {"rows": rows, "seconds": seconds, "peak_kb": _status_kb(os.getpid(), "VmHWM")}


def _measure_raw(url: str) -> dict:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        backend, target = "sqlite", parsed.database
    else:
        backend = "postgresql"
        target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    child = subprocess.run(
        [sys.executable, __file__, "--raw-dump", backend, target],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout)


def _report(name: str, result: dict) -> float:
    rate = result["rows"] / result["seconds"]
    print(
        f"{name:<32} {result['rows']:>9,} rows in {result['seconds']:7.2f} s = "
        f"{rate:>9,.0f} rows/s, peak RSS {result['peak_kb'] / 1024:6.1f} MB"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--database-url", help="a PostgreSQL server (a database is made on it)")
    parser.add_argument("--raw-dump", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_dump:
        print(json.dumps(_raw_dump(*args.raw_dump)))
        return
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import make_url

    from api import create_app
    from api.auth import issue_access_token

    workdir = tempfile.mkdtemp(prefix="bench-export-")
    created = None
    if args.database_url:
        url, created = create_postgres_database(args.database_url)
    else:
        url = f"sqlite:///{workdir}/bench.sqlite3"
    env = os.environ | {"DATABASE_URL": url, "APP_ENV": "development", "RATELIMIT_ENABLED": "false"}
    os.environ.update(env)
    try:
        command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
        app = create_app()
        logging.getLogger("sciatica_care.requests").setLevel(logging.WARNING)  # quiet
        began = time.perf_counter()
        admin = _fill(app, rows=args.rows, patients=args.patients)
        with app.app_context():
            token, _ = issue_access_token(admin, family_id=None)
        app.extensions["db_engine"].dispose()
        print(
            f"database: {make_url(url).get_backend_name()}; {args.rows:,} sessions of "
            f"{args.patients:,} patients built in {time.perf_counter() - began:.1f} s"
        )
        export = _measure_export(env, token)
        assert export["rows"] == args.rows, f"exported {export['rows']} of {args.rows} rows"
        raw = _measure_raw(url)
    finally:
        if created:
            drop_postgres_database(args.database_url, created)
        shutil.rmtree(workdir, ignore_errors=True)
    export_rate = _report("export (gunicorn, streamed CSV)", export)
    print(
        f"{'':<32} (worker RSS before the export {export['idle_kb'] / 1024:.1f} MB: "
        f"+{(export['peak_kb'] - export['idle_kb']) / 1024:.1f} MB while exporting)"
    )
    raw_rate = _report("raw dump", raw)
    print(
        f"export/raw rate: {export_rate / raw_rate:.0%}  (target >= 30 %); "
        f"export peak RSS {export['peak_kb'] / 1024:.1f} MB  (target < 150 MB)"
    )


if __name__ == "__main__":
    main()
