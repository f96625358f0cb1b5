"""CPU per request in this process, without HTTP or client threads: P1's write against the
bare insert, the single read against its bare select, and the stack's own floors, to
compare two versions of the write or the read path.

    python bench/write_cost.py [--patients 200] [--requests 300] [--rounds 5]
                               [--database-url URL]

bench/load.py's P1 runs the servers and their clients on the same cores, over HTTP. Here
a request's cost is this process's CPU alone (Flask's test client, ``time.process_time``):
no HTTP, no client threads, no interpreter lock shared with them, and on PostgreSQL
without the database's own processes. It is what P1's throughput follows when the cores
are full. On a shared machine, compare two versions in turn, several times each. The
kinds of request, timed in turn, round after round:

- bare insert: bench/load.py's bare app (Flask and one SQLAlchemy Core insert) on a SQLite
  file of its own in WAL mode (on PostgreSQL, a table in the same database);
- floor: ``GET /healthz``, Flask and the app's request hooks without a database;
- signed-in read: ``GET /v1/me``, the access token, the user and the profile;
- write: ``POST /v1/sessions`` with an Idempotency-Key for one of `--patients` patients, as
  P1 sends it (10 % sent again with the same key, counted as requests of their own);
- single read: ``GET /v1/sessions/{id}`` of one of a patient's 60 sessions drawn at random
  (bench/load.py's readers draw from their first page of 50), and bench/load.py's bare
  select of the same row from the same database.

Prints the lowest and the median CPU per request of each kind over `--rounds` rounds of
`--requests` requests, the statements a new write and a single read send, and the bare
request's CPU over the API's for each (bench/load.py's ratio is about that when the cores
are full and HTTP and the clients cost nothing).
"""

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from api import create_app  # noqa: E402
from api.auth import issue_access_token  # noqa: E402
from api.db import session_scope  # noqa: E402
from bench.load import BARE_APP, make_items_table  # noqa: E402
from models import User  # noqa: E402
from tests.conftest import migrate  # noqa: E402


def bare_client(url: str):
    """bench/load.py's bare app, in this process, on the database at `url`."""
    os.environ["BARE_DATABASE_URL"] = url
    module = types.ModuleType("bare_app")
    exec(compile(BARE_APP, "bare_app.py", "exec"), module.__dict__)  # noqa: S102 - our own
    return module.app.test_client()


def sign_up(app, patients: int) -> list[str]:
    """Patients as P1's sign up (no profile), made directly (argon2 would take a minute),
    and an access token for each."""
    with session_scope(app) as db_session:
        users = [
            User(
                email=f"cost{i}-{uuid.uuid4().hex[:6]}@example.org",
                password_hash="!",
                role="patient",
                display_name=f"Patient {i}",
            )
            for i in range(patients)
        ]
        db_session.add_all(users)
    with app.app_context():
        return [issue_access_token(user, family_id=None)[0] for user in users]


def session_body(rng: random.Random) -> dict:
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "duration_minutes": 50,
        "technique": "swedish",
        "pressure": "light",
        "pain_before": rng.randint(3, 6),
        "pain_after": rng.randint(2, 5),
    }


def writer(client, tokens: list[str], seed: int, replays: float = 0.10):
    """P1's request: a session now, for a patient drawn at random; a share (`replays`, P1's
    tenth) sent twice with the same key."""
    rng = random.Random(seed)

    def write() -> int:
        headers = {
            "Authorization": f"Bearer {rng.choice(tokens)}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        body = session_body(rng)
        assert client.post("/v1/sessions", json=body, headers=headers).status_code == 201
        if rng.random() < replays:
            replayed = client.post("/v1/sessions", json=body, headers=headers)
            assert replayed.headers["Idempotent-Replayed"] == "true"
            return 2
        return 1

    return write


def single_reads(client, bare, token: str, seed: int):
    """The single read of bench/load.py's readers, by the API and bare: a patient's 60
    sessions written first, then one of them drawn at random per request."""
    headers = {"Authorization": f"Bearer {token}"}
    body = session_body(random.Random(seed))
    ids = [
        client.post("/v1/sessions", json=body, headers=headers).get_json()["id"] for _ in range(60)
    ]
    patient_id = client.get("/v1/me", headers=headers).get_json()["id"]
    # The bare app selects by the id as the database holds it (SQLite: 32 hex digits).
    query = {"patient_id": patient_id}
    rng = random.Random(seed)

    def api() -> int:
        path = f"/v1/sessions/{rng.choice(ids)}"
        assert client.get(path, headers=headers).status_code == 200
        return 1

    def select() -> int:
        assert bare.get(f"/sessions/{rng.choice(ids)}", query_string=query).status_code == 200
        return 1

    return api, select


def answered(client, method: str, path: str, status: int, **kwargs):
    def call() -> int:
        assert client.open(path, method=method, **kwargs).status_code == status
        return 1

    return call


def cpu_per_request(call, requests: int) -> float:
    """Milliseconds of this process's CPU per request, over at least `requests` requests."""
    sent, started = 0, time.process_time()
    while sent < requests:
        sent += call()
    return (time.process_time() - started) * 1000 / sent


def statements_of(app, request) -> int:
    """The statements `request` (a call returning the number of requests made) sends."""
    sent = []

    def count(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert request() == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    url = migrate(args.database_url or f"sqlite:///{work}/cost.sqlite3")
    os.environ.update(APP_ENV="production", DATABASE_URL=url, SECRET_KEY="bench-" + "k" * 40)
    app = create_app({"RATELIMIT_ENABLED": False})
    logging.disable(logging.CRITICAL)  # the access log line is built, not printed
    client = app.test_client()
    tokens = sign_up(app, args.patients)
    me = {"Authorization": f"Bearer {tokens[0]}"}
    bare_url = f"sqlite:///{work}/bare.sqlite3" if url.startswith("sqlite") else url
    make_items_table(bare_url).dispose()
    bare = bare_client(bare_url)
    single_read, bare_select = single_reads(client, bare_client(url), tokens[2], seed=5)
    kinds = {
        "bare insert": answered(bare, "POST", "/items", 201, json={"pain": 3}),
        "floor: GET /healthz": answered(client, "GET", "/healthz", 200),
        "signed-in read: GET /v1/me": answered(client, "GET", "/v1/me", 200, headers=me),
        "write: POST /v1/sessions": writer(client, tokens, seed=7),
        "bare select of one session": bare_select,
        "single read: GET /v1/sessions/{id}": single_read,
    }
    for call in kinds.values():  # warm: caches, compiled statements, the first histories
        cpu_per_request(call, args.requests)
    costs: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, call in kinds.items():
            costs[kind].append(cpu_per_request(call, args.requests))
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"CPU per request in process, ms ({database}; {args.rounds} rounds, lowest / median)")
    for kind, values in costs.items():
        print(f"  {kind:36s} {min(values):6.3f} / {statistics.median(values):6.3f}")
    a_new_write = writer(client, tokens[1:2], seed=9, replays=0)
    print(f"  statements of a new write: {statements_of(app, a_new_write)}")
    print(f"  statements of a single read: {statements_of(app, single_read)}")
    for bare_kind, kind in (
        ("bare insert", "write: POST /v1/sessions"),
        ("bare select of one session", "single read: GET /v1/sessions/{id}"),
    ):
        floor, cost = costs[bare_kind], costs[kind]
        print(
            f"  {bare_kind} over {kind.split(':')[0]}: "
            f"{min(floor) / min(cost):.2f} (lowest), "
            f"{statistics.median(floor) / statistics.median(cost):.2f} (median)"
        )


if __name__ == "__main__":
    main()
