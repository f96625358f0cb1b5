"""Exactly once under crashes: gunicorn workers killed with SIGKILL while phones retry.

    python bench/crash.py [--seconds 20] [--clients 8] [--kill-every 0.4] [--database-url URL]

Starts the API under gunicorn (SQLite by default) and drives it with client threads that
record check-ins with an Idempotency-Key and **no client id**, so that only the key can
tell a retry from a new check-in. Each check-in carries its key in its notes. Whenever a
request fails (connection reset by the killed worker, a 5xx, a 409), the client retries
the same body with the same key until it is acknowledged. Meanwhile a killer sends SIGKILL
to a random worker every --kill-every seconds; the gunicorn master starts a new one.

Prints the kills, the attempts, how the failed attempts failed, the longest time a key
answered 409, and then checks the database: every acknowledged key must be stored exactly
once, and nothing unacknowledged may be stored twice. Exits 1 when it is not so.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import start  # noqa: E402

from models import CheckIn  # noqa: E402

PASSWORD = "crash-test-password"  # noqa: S105 (a throwaway account)


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: dict[str, str] = {}  # key -> check-in id
        self.failures: Counter = Counter()
        self.attempts = 0
        self.longest_409 = 0.0
        self.kills = 0


def client(base: str, token: str, deadline: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    while time.monotonic() < deadline:
        key = uuid.uuid4().hex
        body = {
            "recorded_at": datetime.now(UTC).isoformat(),
            "pain": rng.randint(2, 6),
            "notes": f"key {key}",
        }
        first_409 = None
        while True:  # retry the same body with the same key until it is acknowledged
            with tally.lock:
                tally.attempts += 1
            try:
                resp = http.post(
                    base + "/v1/checkins", json=body, headers={"Idempotency-Key": key}, timeout=10
                )
            except requests.RequestException as exc:
                with tally.lock:
                    tally.failures[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            if resp.status_code == 201:
                with tally.lock:
                    tally.acknowledged[key] = resp.json()["id"]
                    if first_409 is not None:
                        tally.longest_409 = max(tally.longest_409, time.monotonic() - first_409)
                break
            with tally.lock:
                tally.failures[f"HTTP {resp.status_code}"] += 1
            if resp.status_code == 409 and first_409 is None:
                first_409 = time.monotonic()
            time.sleep(0.05)


def killer(master: int, deadline: float, every: float, tally: Tally, rng: random.Random) -> None:
    while time.monotonic() < deadline - 1:
        time.sleep(every)
        workers = workers_of(master)
        if workers:
            try:
                os.kill(rng.choice(workers), signal.SIGKILL)
            except ProcessLookupError:
                continue
            with tally.lock:
                tally.kills += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=0.4)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    url = args.database_url or f"sqlite:///{work}/crash.sqlite3"
    env = os.environ | {
        "DATABASE_URL": url,
        "APP_ENV": "production",
        "SECRET_KEY": "crash-" + "k" * 40,
        "RATELIMIT_ENABLED": "false",
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([BIN / "alembic", "upgrade", "head"], **run)
    email = f"crash-{uuid.uuid4().hex[:8]}@example.org"
    subprocess.run(
        [BIN / "flask", "--app", "api", "users", "create", "--email", email]
        + ["--role", "patient", "--name", "Crash"],
        input=f"{PASSWORD}\n".encode(),
        **run,
    )
    server, base = start("api:create_app()", env, ROOT, work / "api.log")
    tally = Tally()
    try:
        token = requests.post(
            base + "/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=10
        ).json()["access_token"]
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=client, args=(base, token, deadline, tally, i))
            for i in range(args.clients)
        ]
        threads.append(
            threading.Thread(
                target=killer,
                args=(server.pid, deadline, args.kill_every, tally, random.Random(7)),
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(15)

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = Counter(
            note.removeprefix("key ")
            for (note,) in conn.execute(select(CheckIn.notes).where(CheckIn.deleted_at.is_(None)))
        )
        rows = conn.execute(select(func.count()).select_from(CheckIn)).scalar_one()
    engine.dispose()
    acknowledged = tally.acknowledged
    missing = [k for k in acknowledged if stored[k] == 0]
    twice = [k for k, n in stored.items() if n > 1]
    print(
        f"database: {url.split(':')[0]}; {args.clients} clients for {args.seconds:.0f} s; "
        f"{tally.kills} workers killed with SIGKILL"
    )
    print(
        f"  attempts {tally.attempts}, acknowledged writes {len(acknowledged)}, failed attempts "
        f"{sum(tally.failures.values())}: {dict(tally.failures)}"
    )
    print(f"  longest 409 window for a key: {tally.longest_409 * 1000:.0f} ms")
    print(
        f"  rows stored {rows}; acknowledged but missing {len(missing)}; "
        f"stored more than once {len(twice)}"
    )
    ok = not missing and not twice and rows == sum(stored.values())
    print(f"exactly once: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
