"""Webhook delivery: events/s by 1 and 2 workers, commit-to-delivery latency, write-path cost.

    python bench/webhooks.py [--events 1000] [--database-url postgresql+psycopg://...]

On a scratch PostgreSQL database (created on the server of --database-url, dropped at the
end; two workers need SKIP LOCKED), with a receiver on 127.0.0.1 that verifies every
signature with the `standardwebhooks` package:

1. throughput: a backlog of --events alert events (four per alert, ordered per alert)
   delivered by `flask --app api webhooks work`, with 1 worker, then 2;
2. latency: alert events committed one by one while one worker runs, from the commit to the
   receiver, at the worker's default idle poll (0.2 s) and at 1 s;
3. cost on the write path: `POST /v1/sessions` (in-process, realistic noisy reports) for a
   patient whose therapist subscribes to every alert event against one whose therapist does
   not, interleaved rounds, median ratio (goal >= 0.95).
"""

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from export import create_postgres_database, drop_postgres_database  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench import webhook_kit as kit  # noqa: E402


def throughput(engine, env, log: Path, events: int, workers: int) -> float:
    receiver = kit.CountingReceiver()
    with Session(engine) as db_session:
        patient, _ = kit.clinic(db_session, receiver.url)
        ids = kit.backlog(db_session, patient.id, events // 4)
        db_session.commit()
    processes = [kit.start_worker(env, log) for _ in range(workers)]
    try:
        if not receiver.wait_for(len(ids), timeout=600):
            raise SystemExit(f"only {receiver.distinct()} of {len(ids)} delivered: see {log}")
        # From the first arrival to the last: the workers' start-up (imports) left out.
        took = receiver.arrivals[-1][2] - receiver.arrivals[0][2]
        twice = sum(1 for n in receiver.seen.values() if n > 1)
        in_order = kit.in_order(receiver.arrivals)
    finally:
        stop(processes)
        receiver.close()
    rate = len(ids) / took
    print(
        f"  {workers} worker(s): {len(ids)} events in {took:.2f} s = {rate:,.0f} events/s "
        f"(first to last arrival), sent twice {twice}, in order per alert: {in_order}"
    )
    return rate


def stop(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def latency(engine, env, log: Path, count: int, idle: str) -> list[float]:
    receiver = kit.CountingReceiver()
    with Session(engine) as db_session:
        patient, _ = kit.clinic(db_session, receiver.url)
        patient_id = patient.id
        db_session.commit()
    worker = kit.start_worker(env, log, idle)
    committed: dict[str, float] = {}
    try:
        time.sleep(2)  # the worker is up and idle
        for _ in range(count):
            with Session(engine) as db_session:
                (event_id, *_rest) = kit.backlog(db_session, patient_id, 1)
                db_session.commit()
            committed[event_id] = time.monotonic()
            time.sleep(random.uniform(0.02, 0.1))  # noqa: S311 - arrival jitter
        receiver.wait_for(count * 4, timeout=120)
    finally:
        stop([worker])
        receiver.close()
    arrived = {}
    for webhook_id, _, at in receiver.arrivals:
        arrived.setdefault(webhook_id, at)
    return sorted(arrived[i] - t for i, t in committed.items() if i in arrived)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def write_cost(database_url: str, rounds: int, writes: int) -> None:
    os.environ.update(APP_ENV="testing", DATABASE_URL=database_url)
    from api import create_app
    from api.auth import issue_access_token
    from api.db import session_scope

    app = create_app({"RATELIMIT_ENABLED": False, "WEBHOOKS_ALLOW_PRIVATE": True})
    logging.getLogger("sciatica_care.requests").setLevel(logging.WARNING)  # quiet, same cost
    headers = {}
    with session_scope(app) as db_session:
        for case in ("with", "without"):
            url = "http://127.0.0.1:9/alerts" if case == "with" else None
            patient, _ = kit.clinic(db_session, url)
            with app.app_context():
                token, _ = issue_access_token(patient, family_id=None)
            headers[case] = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    rng = random.Random(7)
    start = {case: datetime(2026, 1, 1, tzinfo=UTC) for case in headers}
    raised = {case: 0 for case in headers}

    def report(case: str) -> dict:
        start[case] += timedelta(hours=rng.uniform(20, 80))
        before = min(10, max(0, round(rng.gauss(5, 1.5))))
        after = min(10, max(0, before + round(rng.gauss(-1, 1.5))))  # bad days rise
        return {
            "started_at": start[case].isoformat(),
            "duration_minutes": 45,
            "technique": rng.choice(["swedish", "deep_tissue", "myofascial_release"]),
            "pressure": rng.choice(["light", "moderate", "firm"]),
            "areas": ["lower_back"],
            "pain_before": before,
            "pain_after": after,
            "symptoms": {"numbness": rng.choice([0, 0, 1]), "tingling": rng.choice([0, 1])},
        }

    def run(case: str) -> float:
        began = time.perf_counter()
        for _ in range(writes):
            resp = client.post("/v1/sessions", json=report(case), headers=headers[case])
            assert resp.status_code == 201, resp.get_data(as_text=True)
            raised[case] += len(resp.get_json().get("alerts", []))
        return writes / (time.perf_counter() - began)

    run("with"), run("without")  # warm up
    ratios = []
    for index in range(rounds):
        order = ("with", "without") if index % 2 == 0 else ("without", "with")
        rates = {case: run(case) for case in order}
        ratios.append(rates["with"] / rates["without"])
        print(
            f"  round {index + 1}: with a subscription {rates['with']:.0f} writes/s, "
            f"without {rates['without']:.0f} writes/s, ratio {ratios[-1]:.3f}"
        )
    print(f"  alerts in the writes' answers: with {raised['with']}, without {raised['without']}")
    print(f"  write with a subscription vs without: median ratio {statistics.median(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency-events", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    database_url, name = create_postgres_database(args.database_url, prefix="bench_webhooks")
    env = os.environ | {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "WEBHOOKS_ALLOW_PRIVATE": "true",
        "LOG_FORMAT": "text",
    }
    log = Path(tempfile.mkdtemp(prefix="bench-webhooks-")) / "workers.log"
    try:
        subprocess.run(
            [kit.BIN / "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        from api.db import make_engine

        engine = make_engine(database_url)
        print(f"throughput ({args.events} events, PostgreSQL):")
        one = throughput(engine, env, log, args.events, 1)
        two = throughput(engine, env, log, args.events, 2)
        print(f"  2 workers vs 1: x{two / one:.2f}")
        for idle in ("0.2", "1.0"):
            took = latency(engine, env, log, args.latency_events, idle)
            print(
                f"commit to delivery, worker idle poll {idle} s ({len(took)} events): "
                f"p50 {pct(took, 50) * 1000:.0f} ms, p99 {pct(took, 99) * 1000:.0f} ms"
            )
        engine.dispose()
        print(f"write path ({args.rounds} rounds of {args.writes} writes each way):")
        write_cost(database_url, args.rounds, args.writes)
    finally:
        drop_postgres_database(args.database_url, name)


if __name__ == "__main__":
    main()
