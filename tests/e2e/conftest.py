"""A real gunicorn on loopback with migrated, seeded data, for end-to-end and contract tests.

On the PostgreSQL pass (TEST_DATABASE_URL set) the server gets a scratch database of its own.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.db import make_engine
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
# Threads as well as workers: the concurrency tests need requests of one process running at
# once (gunicorn.conf.py's default is one thread per worker).
SERVED_BY = ("--workers", "2", "--threads", "4")
METRICS_TOKEN = "e2e-metrics-" + "m" * 20


@dataclass
class Server:
    base: str
    seed_output: str
    env: dict
    log_path: Path

    def token(self, email: str, password: str) -> str:
        resp = requests.post(
            f"{self.base}/v1/auth/token", json={"email": email, "password": password}, timeout=10
        )
        resp.raise_for_status()
        return resp.json()["access_token"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database(workdir: Path):
    test_url = os.environ.get("TEST_DATABASE_URL")
    if not test_url or make_url(test_url).get_backend_name() != "postgresql":
        yield f"sqlite:///{workdir / 'e2e.sqlite3'}", None
        return
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    admin = make_engine(test_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(test_url).set(database=name).render_as_string(hide_password=False), name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    database = _database(workdir)
    url, _ = next(database)
    env = os.environ | {
        "APP_ENV": "production",
        "SECRET_KEY": "e2e-" + "s" * 40,
        "DATABASE_URL": url,
        "RATELIMIT_ENABLED": "false",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    env.pop("TEST_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py makes a fresh one
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([BIN / "alembic", "upgrade", "head"], **run)
    seeded = subprocess.run([BIN / "flask", "--app", "api", "seed-demo"], **run)
    subprocess.run(
        [
            BIN / "flask",
            "--app",
            "api",
            "users",
            "create",
            "--email",
            "admin@demo.clinic",
            "--role",
            "admin",
            "--name",
            "Demo admin",
        ],
        input="demo-admin-pass\n",
        **run,
    )
    port = _free_port()
    log_path = workdir / "gunicorn.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", *SERVED_BY, "api:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        process.kill()
        process.wait()
        log.close()
        pytest.fail("gunicorn did not start: " + log_path.read_text())
    try:
        yield Server(base=base, seed_output=seeded.stdout, env=env, log_path=log_path)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        next(database, None)
