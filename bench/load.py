"""Mixed mobile traffic against a real gunicorn on loopback, and a bare baseline.

    python bench/load.py [--seconds 15] [--warmup 3] [--clients 8] [--patients 200]
                         [--rounds 1] [--workers 2] [--threads 4] [--database-url URL]

Runs the API (gunicorn, SQLite by default or --database-url) and drives it with client
threads, each a stream of phones: every request is sent for one of the `--patients`
patients, drawn at random (a clinic's morning: many phones syncing, few at once for the
same patient). `--patients 8` is the harsher shape of earlier runs: eight patients, each
recording hundreds of reports within the analyzer's 7-day lookback during the run, all of
which every write re-reads. The scenarios:

- P1, writes only: every client records sessions (`POST /v1/sessions` with an
  Idempotency-Key: auth, validation, analysis, alerts, audit, change sequence), 10 % of
  them sent twice with the same key, as a phone that lost the response would;
- mixed mobile traffic: check-in and session writes as above, list reads and delta syncs;
- P1 while a phone signs in: the writers of P1 but one, first with that client idle, then
  with it signing in again and again (argon2, a tenth of a second of CPU on purpose; rate
  limits are off here); the writes' throughput, p50 and p99 in each;
- reads: pages of 50 sessions, then single sessions.

Prints throughput, p50/p95/p99 latency and the duplicate rows found afterwards (must be
0); on SQLite, for each P1 run, how long writes held and waited for the writer lock and how
much of the run it was held (from the API's /metrics: near 100 %, it is the limit); then
the same for a bare Flask + SQLAlchemy Core insert endpoint served the same way
(`--workers` x `--threads`, gthread, for both), and the P1 ratio of the write
throughputs; then the read ratios against bare selects of the same rows. With
`--rounds N`, P1 and each kind of read run N times on each server in turn (API, bare,
API, bare, ...), each P1 round of the API for `--patients` patients of its own (the
readers' patients, with their page of 60 sessions, are others), and the median ratios
and p99s are printed: on a shared machine one pair of runs can differ by a fifth from
the next. With each run goes
the CPU the server's processes spent per request (with PostgreSQL's own processes on
PostgreSQL, and the clients' own): on a shared machine the throughput of one run moves
with the neighbours' load, while CPU per request moves less, and it says how far the
API is from the CPU a goal ratio allows.
Each server first serves `--warmup` seconds of the traffic it is then timed on, untimed:
a freshly started gunicorn serves the first seconds at half its later rate (seen on the
bare select: about 330 pages/s in its first 2 s, then 700-850), and timing one server
cold against another warm would flatter the warm one. Traffic goes to 127.0.0.1 only and
stops by itself.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
METRICS_TOKEN = "bench-metrics-" + "m" * 24
sys.path.insert(0, str(ROOT))

from models import CheckIn, MassageSession  # noqa: E402

BARE_APP = textwrap.dedent(
    """
    import os, uuid
    from flask import Flask, request, jsonify
    from sqlalchemy import create_engine, text
    engine = create_engine(os.environ["BARE_DATABASE_URL"])
    app = Flask(__name__)

    @app.post("/items")
    def create():
        body = request.get_json()
        item_id = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO items (id, pain, notes) VALUES (:i, :p, :n)"),
                         {"i": item_id, "p": body["pain"], "n": body.get("notes")})
        return jsonify(id=item_id, pain=body["pain"]), 201

    # The same rows as GET /v1/sessions and GET /v1/sessions/{id}, selected bare.
    SESSIONS = "SELECT * FROM sessions WHERE patient_id = :p AND deleted_at IS NULL"
    # SQLite holds uuids as 32 hex digits.
    as_stored = (lambda u: u.replace("-", "")) if engine.dialect.name == "sqlite" else str

    def _rows(result):
        return [{k: str(v) if v is not None else None for k, v in row._mapping.items()}
                for row in result]

    @app.get("/sessions")
    def sessions():
        with engine.connect() as conn:
            rows = conn.execute(text(SESSIONS + " ORDER BY started_at DESC, id DESC LIMIT 50"),
                                {"p": as_stored(request.args["patient_id"])})
            return jsonify(items=_rows(rows))

    @app.get("/sessions/<item_id>")
    def session(item_id):
        with engine.connect() as conn:
            rows = conn.execute(text(SESSIONS + " AND id = :i"),
                                {"p": as_stored(request.args["patient_id"]),
                                 "i": as_stored(item_id)})
            return jsonify(_rows(rows)[0])
    """
)


def make_items_table(url: str):
    """The bare app's table at `url`, made afresh (WAL on SQLite, as the API's): its engine."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS items"))
        conn.execute(
            text("CREATE TABLE items (id VARCHAR(36) PRIMARY KEY, pain INTEGER, notes TEXT)")
        )
        if url.startswith("sqlite"):
            conn.execute(text("PRAGMA journal_mode=WAL"))
    return engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    app_spec: str, env: dict, cwd: Path, log: Path, *, workers: int, threads: int
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            BIN / "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--access-logfile",
            "/dev/null",
            app_spec,
        ],
        cwd=cwd,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            requests.get(base + "/healthz", timeout=1)
            return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start; see " + str(log))


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.created: set[str] = set()
        self.errors = 0
        self.server_cpu: float | None = None
        self.client_cpu = 0.0  # this process's CPU (all client threads) over the run
        self.with_database = False  # server_cpu counts PostgreSQL's processes too
        # SQLite: the writer lock's held and waited seconds, and turns, over the run
        self.writer_lock: tuple[float, float, float] | None = None

    def add(self, kind: str, seconds: float, ok: bool, created: str | None = None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            self.errors += not ok
            if created:
                self.created.add(created)


def timed(recorder, kind, call):
    began = time.perf_counter()
    resp = call()
    recorder.add(
        kind,
        time.perf_counter() - began,
        resp.status_code < 400,
        resp.json().get("id") if resp.status_code in (200, 201) and kind == "write" else None,
    )
    return resp


def felt() -> str:
    # Reports are felt now, as on a phone; equal times would all be re-judged on each write.
    return datetime.now(UTC).isoformat()


def writing_client(
    base: str, tokens: list[str], deadline: float, recorder: Recorder, seed: int
) -> None:
    """P1: sessions only."""
    mobile_client(base, tokens, deadline, recorder, seed, sessions_only=True)


def mobile_client(
    base: str,
    tokens: list[str],
    deadline: float,
    recorder: Recorder,
    seed: int,
    sessions_only=False,
) -> None:
    rng = random.Random(seed)
    http = requests.Session()
    cursors: dict[str, str] = {}
    while time.monotonic() < deadline:
        token = rng.choice(tokens)
        http.headers["Authorization"] = f"Bearer {token}"
        roll = 0.4 if sessions_only else rng.random()
        if roll < 0.5:
            path = "/v1/checkins" if roll < 0.35 else "/v1/sessions"
            body = {"recorded_at": felt(), "pain": rng.randint(2, 6)}
            if path == "/v1/sessions":
                body = {
                    "started_at": felt(),
                    "duration_minutes": 50,
                    "technique": "swedish",
                    "pressure": "light",
                    "pain_before": rng.randint(3, 6),
                    "pain_after": rng.randint(2, 5),
                }
            key = {"Idempotency-Key": uuid.uuid4().hex}

            def send(path=path, body=body, key=key):
                return http.post(base + path, json=body, headers=key)

            timed(recorder, "write", send)
            if rng.random() < 0.10:  # the phone lost the answer and retries
                timed(recorder, "write", send)
        elif roll < 0.75:
            timed(recorder, "list", lambda: http.get(base + "/v1/sessions?limit=20"))
        else:
            cursor = cursors.get(token)
            url = base + "/v1/sync?limit=100" + (f"&cursor={cursor}" if cursor else "")
            resp = timed(recorder, "sync", lambda url=url: http.get(url))
            if resp.status_code == 200:
                cursors[token] = resp.json()["next_cursor"]


def signing_in_client(base: str, account: dict, deadline: float, recorder: Recorder) -> None:
    """A phone signing in again and again (a morning's phones, each signing in once)."""
    http = requests.Session()
    while time.monotonic() < deadline:
        timed(recorder, "sign-in", lambda: http.post(base + "/v1/auth/token", json=account))


def writing_while_signing_in(
    base: str,
    tokens: list[str],
    account: dict | None,
    deadline: float,
    recorder: Recorder,
    seed: int,
) -> None:
    """P1's writers, but the first client signs in instead (with no `account`, it idles:
    the same writers alone): argon2's deliberate tenth of a second of CPU must not hold
    back the writes."""
    if seed:
        writing_client(base, tokens, deadline, recorder, seed)
    elif account is not None:
        signing_in_client(base, account, deadline, recorder)


def bare_client(base: str, deadline: float, recorder: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    http = requests.Session()
    while time.monotonic() < deadline:
        timed(
            recorder, "write", lambda: http.post(base + "/items", json={"pain": rng.randint(0, 10)})
        )


def _reader(kind: str):
    """Reads of one kind: a page of 50 sessions ("list") or one of them ("one")."""

    def client(base: str, token: str, deadline: float, recorder: Recorder, seed: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        ids = [item["id"] for item in http.get(base + "/v1/sessions?limit=50").json()["items"]]
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            if kind == "list":
                timed(recorder, kind, lambda: http.get(base + "/v1/sessions?limit=50"))
            else:
                timed(recorder, kind, lambda: http.get(f"{base}/v1/sessions/{rng.choice(ids)}"))

    return client


def _bare_reader(kind: str):
    def client(
        base: str, patient_id: str, ids: list, deadline: float, recorder: Recorder, seed: int
    ) -> None:
        http = requests.Session()
        rng = random.Random(seed)
        query = {"patient_id": patient_id}
        while time.monotonic() < deadline:
            if kind == "list":
                timed(recorder, kind, lambda: http.get(base + "/sessions", params=query))
            else:
                url = f"{base}/sessions/{rng.choice(ids)}"
                timed(recorder, kind, lambda url=url: http.get(url, params=query))

    return client


def register(base: str, name: str) -> dict:
    """Sign a patient up through the API: their email and password."""
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.org"
    account = {"email": email, "password": "load-test-password"}
    body = account | {"display_name": name}
    requests.post(base + "/v1/auth/register", json=body, timeout=30).raise_for_status()
    return account


def sign_up(base: str, patients: int) -> list[str]:
    """Register `patients` patients through the API and sign each in: their access tokens."""

    def one(i: int) -> str:
        account = register(base, f"load{i}")
        resp = requests.post(base + "/v1/auth/token", json=account, timeout=30)
        resp.raise_for_status()
        return resp.json()["access_token"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(patients)))


def fill_pages(tokens: list[str], base: str, sessions: int = 60) -> set[str]:
    """Record `sessions` sessions for each of these patients (before the reads); their ids."""
    filled = set()
    for token in tokens:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(sessions):
            body = {
                "started_at": felt(),
                "duration_minutes": 50,
                "technique": "swedish",
                "pressure": "light",
                "pain_before": 4,
                "pain_after": 3,
            }
            resp = http.post(base + "/v1/sessions", json=body, timeout=30)
            resp.raise_for_status()
            filled.add(resp.json()["id"])
    return filled


def _ticks(stat: str, *, reaped: bool = False) -> int:
    """CPU ticks of a /proc/<pid>/stat line; with `reaped`, those of the children it has
    waited for too (a gunicorn worker or PostgreSQL backend that ended)."""
    fields = stat.rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])  # utime, stime
    return used + (int(fields[13]) + int(fields[14]) if reaped else 0)  # cutime, cstime


def _postgres_ticks() -> int:
    """CPU ticks of this machine's PostgreSQL processes (none when the server is elsewhere)."""
    total = 0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = path.read_text()
        except OSError:
            continue  # ended meanwhile: its ticks are its parent's reaped ones
        if stat.split("(", 1)[1].rsplit(")", 1)[0] == "postgres":
            total += _ticks(stat, reaped=True)
    return total


def server_cpu(server: subprocess.Popen | None, *, database: bool = False) -> float | None:
    """CPU seconds used so far by a gunicorn master and its workers (ended ones included),
    and with `database`, by this machine's PostgreSQL: on SQLite the database's work runs
    in the workers, on PostgreSQL in its own processes on the same cores (Linux /proc;
    None elsewhere)."""
    if server is None:
        return None
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        total = _ticks(Path(f"/proc/{server.pid}/stat").read_text(), reaped=True)
        for pid in children:
            total += _ticks(Path(f"/proc/{pid}/stat").read_text())
        if database:
            total += _postgres_ticks()
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def run(
    clients: int,
    seconds: float,
    target,
    *args,
    server: subprocess.Popen | None = None,
    database: bool = False,
) -> tuple[Recorder, float]:
    """Drive `target` from `clients` threads for `seconds`; with `server`, also record the
    CPU its processes (and with `database`, PostgreSQL's) spent meanwhile
    (``recorder.server_cpu``)."""
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=target, args=(*args[i], deadline, recorder, i))
        for i in range(clients)
    ]
    cpu_before, client_before = server_cpu(server, database=database), time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu_after = server_cpu(server, database=database)
    recorder.client_cpu = time.process_time() - client_before
    if cpu_before is not None and cpu_after is not None:
        recorder.server_cpu = cpu_after - cpu_before
        recorder.with_database = database
    return recorder, elapsed


def cpu_per_request(recorder: Recorder, side: str = "server") -> float | None:
    """Server (or client) CPU seconds per request of a run."""
    count = sum(len(values) for values in recorder.latencies.values())
    used = recorder.server_cpu if side == "server" else recorder.client_cpu
    if used is None or not count:
        return None
    return used / count


def cpu_label(recorder: Recorder) -> str:
    return "server and PostgreSQL CPU" if recorder.with_database else "server CPU"


def percentile(seconds: list[float], p: float) -> float:
    """The `p` quantile of these latencies, in ms."""
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def every_latency(recorder: Recorder) -> list[float]:
    return [v for values in recorder.latencies.values() for v in values]


def report(name: str, recorder: Recorder, elapsed: float) -> None:
    every = every_latency(recorder)
    writes = len(recorder.latencies.get("write", []))
    p50, p95, p99 = (percentile(every, p) for p in (0.5, 0.95, 0.99))
    print(
        f"{name}: {len(every)} requests in {elapsed:.1f} s = {len(every) / elapsed:.0f} req/s "
        f"(writes {writes / elapsed:.0f}/s); p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"p99 {p99:.1f} ms; errors {recorder.errors}"
    )
    cpu = cpu_per_request(recorder)
    if cpu is not None:
        print(f"    {cpu_label(recorder)} {cpu * 1000:.2f} ms per request")
    for kind, values in sorted(recorder.latencies.items()):
        print(f"    {kind:<6} n={len(values):<6} median {statistics.median(values) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds per server")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument(
        "--rounds",
        type=_at_least_one,
        default=1,
        help="runs of each server, in turn, per scenario compared",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker, both servers")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    url = args.database_url or f"sqlite:///{work}/load.sqlite3"
    pg = url.startswith("postgresql")  # its processes' CPU counts with the server's
    env = os.environ | {
        "DATABASE_URL": url,
        "APP_ENV": "production",
        "SECRET_KEY": "bench-" + "k" * 40,
        "RATELIMIT_ENABLED": "false",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    subprocess.run(
        [BIN / "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    serving = {"workers": args.workers, "threads": args.threads}
    bare_url = f"sqlite:///{work}/bare.sqlite3" if url.startswith("sqlite") else url
    bare_engine = make_items_table(bare_url)
    (work / "bare_app.py").write_text(BARE_APP)

    def start_bare(database_url: str, log: str) -> tuple[subprocess.Popen, str]:
        server = start(
            "bare_app:app", env | {"BARE_DATABASE_URL": database_url}, work, work / log, **serving
        )
        servers.append(server[0])
        return server

    api, base = start("api:create_app()", env, ROOT, work / "api.log", **serving)
    servers = [api]
    acknowledged: set[str] = set()
    rounds = []
    try:
        # Both servers stay up, so that their P1 runs take turns; the one not driven idles.
        bare, bare_base = start_bare(bare_url, "bare.log")
        # Each reader reads the pages of a patient of its own, given a page of 50 first.
        readers = [(base, token) for token in sign_up(base, args.clients)]
        acknowledged |= fill_pages([token for _, token in readers], base)
        bare_writers = [(bare_base,) for _ in range(args.clients)]
        for _ in range(args.rounds):
            # Phones of patients of its own: every round writes onto the same short
            # histories (a write re-reads its patient's recent reports).
            tokens = sign_up(base, args.patients)
            writers = [(base, tokens) for _ in range(args.clients)]
            # Untimed: what it writes is counted only in the check for duplicates.
            warmed, _ = run(args.clients, args.warmup, writing_client, *writers)
            lock_before = writer_lock(base)
            written = run(
                args.clients, args.seconds, writing_client, *writers, server=api, database=pg
            )
            lock_after = writer_lock(base)
            if lock_before and lock_after:
                written[0].writer_lock = tuple(
                    a - b for a, b in zip(lock_after, lock_before, strict=True)
                )
            acknowledged |= warmed.created | written[0].created
            run(args.clients, args.warmup, bare_client, *bare_writers)
            bare_written = run(
                args.clients, args.seconds, bare_client, *bare_writers, server=bare, database=pg
            )
            rounds.append((written, bare_written))
        mixed, mixed_elapsed = run(
            args.clients, args.seconds, mobile_client, *writers, server=api, database=pg
        )
        acknowledged |= mixed.created
        # The same writers, with their eighth client idle, then signing in again and again.
        signing = [
            run(
                args.clients,
                args.seconds,
                writing_while_signing_in,
                *[(base, tokens, signer) for _ in range(args.clients)],
                server=api,
                database=pg,
            )
            for signer in (None, register(base, "signer"))
        ]
        acknowledged |= signing[0][0].created | signing[1][0].created
        # The reads: bare selects of the same rows from the API's database, by a server of
        # its own, each kind of read in turn with the API's.
        selecting, select_base = start_bare(url, "bare-read.log")
        bare_readers = [(select_base, *_rows_of(base, token)) for _, token in readers]
        run(args.clients, args.warmup, _bare_reader("list"), *bare_readers)
        reads: dict[str, list] = {"list": [], "one": []}
        for _ in range(args.rounds):
            for kind, pairs in reads.items():
                api_run = run(
                    args.clients, args.seconds, _reader(kind), *readers, server=api, database=pg
                )
                bare_run = run(
                    args.clients,
                    args.seconds,
                    _bare_reader(kind),
                    *bare_readers,
                    server=selecting,
                    database=pg,
                )
                pairs.append((api_run, bare_run))
    finally:
        _stop(servers)
    _report_pairs("P1 POST /v1/sessions", rounds, goal=0.5)
    report("API, mixed mobile traffic", mixed, mixed_elapsed)
    _report_signing_in(*signing, clients=args.clients)
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = sum(
            conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (MassageSession, CheckIn)
        )
    engine.dispose()
    print(
        f"    rows written {rows}, distinct ids acknowledged {len(acknowledged)}, "
        f"duplicate rows {rows - len(acknowledged)}"
    )
    with bare_engine.begin() as conn:
        conn.execute(text("DROP TABLE items"))
    for kind, name in (("list", "GET /v1/sessions?limit=50"), ("one", "GET /v1/sessions/{id}")):
        _report_pairs(name, reads[kind], goal=0.6)


def _stop(servers: list[subprocess.Popen]) -> None:
    """Stop every server, killing one that does not stop within 10 s."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _at_least_one(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _rows_of(base: str, token: str) -> tuple[str, list[str]]:
    """What a bare reader needs to select the rows a patient's reader reads: the patient's
    id and the ids of their first page of sessions."""
    headers = {"Authorization": f"Bearer {token}"}
    me = requests.get(base + "/v1/me", headers=headers, timeout=10).json()
    page = requests.get(base + "/v1/sessions?limit=50", headers=headers, timeout=10)
    return me["id"], [item["id"] for item in page.json()["items"]]


def _report_pairs(name: str, pairs: list, *, goal: float) -> None:
    """Each pair of runs, the API's then the bare server's, with their throughput ratio and
    CPU; with several pairs (--rounds), the median ratio and the API's median p99."""
    writes = name.startswith("P1")
    api_name = f"API, {name}" + (" only" if writes else "")
    bare_name = "bare Flask + SQLAlchemy " + ("insert" if writes else "select of the same rows")
    ratios, p99s = [], []
    for number, (api_run, bare_run) in enumerate(pairs, 1):
        label = f" (round {number} of {len(pairs)})" if len(pairs) > 1 else ""
        report(api_name + label, *api_run)
        report(bare_name + label, *bare_run)
        ratios.append(_rate(*api_run) / _rate(*bare_run))
        p99s.append(percentile(every_latency(api_run[0]), 0.99))
        if writes:
            print(f"P1 write throughput ratio API / bare insert{label}: {ratios[-1]:.2f}")
        else:
            print(f"read throughput ratio API / bare select, {name}{label}: {ratios[-1]:.2f}")
        _compare_cpu(name, api_run[0], bare_run[0], goal=goal)
        if api_run[0].writer_lock and api_run[0].writer_lock[2]:
            held, waited, turns = api_run[0].writer_lock
            print(
                f"    SQLite writer lock: held {held / turns * 1000:.2f} ms and waited for "
                f"{waited / turns * 1000:.2f} ms per turn ({turns:.0f} turns), busy "
                f"{held / api_run[1]:.0%} of the run"
            )
    if len(pairs) > 1:
        print(
            f"{name} over {len(pairs)} rounds: ratio median {statistics.median(ratios):.2f} "
            f"(each {', '.join(f'{r:.2f}' for r in ratios)}); API p99 median "
            f"{statistics.median(p99s):.1f} ms (each {', '.join(f'{p:.1f}' for p in p99s)})"
        )


def _report_signing_in(alone: tuple, signing: tuple, *, clients: int) -> None:
    """The writes of `clients` - 1 writers while the last client idles, then while it signs
    in again and again (the writes' own latencies: the sign-ins' are left out)."""
    report(f"API, {clients - 1} clients writing, 1 idle", *alone)
    report(f"API, {clients - 1} clients writing, 1 signing in again and again", *signing)
    figures = []
    for recorder, elapsed in (alone, signing):
        writes = recorder.latencies.get("write", [])
        if not writes:
            return
        figures.append(
            f"{len(writes) / elapsed:.0f} writes/s, p50 {percentile(writes, 0.5):.1f} ms, "
            f"p99 {percentile(writes, 0.99):.1f} ms"
        )
    sign_ins = len(signing[0].latencies.get("sign-in", [])) / signing[1]
    print(
        f"    writes with a client idle: {figures[0]}; while it signs in ({sign_ins:.1f} "
        f"sign-ins/s): {figures[1]}"
    )


def _compare_cpu(name: str, api: Recorder, bare: Recorder, *, goal: float) -> None:
    """Server CPU per request, API against bare: the steadier figure on a shared machine,
    where throughput also moves with what the neighbours do. When the cores (shared with
    the clients) are the limit, throughput goes as 1 / (server + client CPU per request),
    so the `goal` ratio needs the API's server CPU per request within the budget printed."""
    api_cpu, bare_cpu = cpu_per_request(api), cpu_per_request(bare)
    if api_cpu is None or not bare_cpu:
        return
    api_client, bare_client_cpu = cpu_per_request(api, "client"), cpu_per_request(bare, "client")
    budget = (bare_cpu + bare_client_cpu) / goal - api_client
    print(
        f"{cpu_label(api)} per request, {name}: API {api_cpu * 1000:.2f} ms, bare "
        f"{bare_cpu * 1000:.2f} ms (x{api_cpu / bare_cpu:.1f}); clients' CPU per request "
        f"{api_client * 1000:.2f} and {bare_client_cpu * 1000:.2f} ms; a ratio of {goal} "
        f"would need the API within {budget * 1000:.2f} ms"
    )


def writer_lock(base: str) -> tuple[float, float, float] | None:
    """The API's SQLite writer lock so far, from /metrics (every worker): seconds held,
    seconds waited for, turns taken (all zero on PostgreSQL, which has no such lock); None
    when the API does not serve them."""
    resp = requests.get(
        base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    resp.raise_for_status()
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }
    if "sqlite_writer_held_seconds_count" not in samples:
        return None
    return (
        samples["sqlite_writer_held_seconds_sum"],
        samples["sqlite_writer_wait_seconds_sum"],
        samples["sqlite_writer_held_seconds_count"],
    )


def _rate(recorder: Recorder, elapsed: float) -> float:
    return sum(len(v) for v in recorder.latencies.values()) / elapsed


if __name__ == "__main__":
    main()
