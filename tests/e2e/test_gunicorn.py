"""The install-and-run path: migrations, demo data and a real gunicorn on loopback."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    env = os.environ | {
        "APP_ENV": "production",
        "SECRET_KEY": "e2e-" + "s" * 40,
        "DATABASE_URL": f"sqlite:///{workdir / 'e2e.sqlite3'}",
        "RATELIMIT_ENABLED": "false",
    }
    env.pop("TEST_DATABASE_URL", None)
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([BIN / "alembic", "upgrade", "head"], **run)
    seeded = subprocess.run([BIN / "flask", "--app", "api", "seed-demo"], **run)
    port = _free_port()
    log = (workdir / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "api:create_app()"],
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
        pytest.fail("gunicorn did not start: " + (workdir / "gunicorn.log").read_text())
    try:
        yield base, seeded.stdout
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_probes_answer(server):
    base, _ = server
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}


def test_demo_therapist_sees_demo_patients(server):
    base, output = server
    line = next(row for row in output.splitlines() if "therapist@demo.clinic" in row)
    _, email, password = line.split()
    token = requests.post(
        f"{base}/v1/auth/token", json={"email": email, "password": password}, timeout=5
    ).json()["access_token"]
    sessions = requests.get(
        f"{base}/v1/sessions?limit=200", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert sessions.status_code == 200
    assert len({item["patient_id"] for item in sessions.json()["items"]}) == 4


def test_register_login_record_and_read_a_session(server):
    base, _ = server
    account = {"email": "e2e@example.org", "password": "long enough pass", "display_name": "E"}
    assert requests.post(f"{base}/v1/auth/register", json=account, timeout=5).status_code == 201
    tokens = requests.post(
        f"{base}/v1/auth/token", json={k: account[k] for k in ("email", "password")}, timeout=5
    ).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    session = {
        "started_at": "2026-11-20T18:00:00+02:00",
        "duration_minutes": 45,
        "technique": "myofascial_release",
        "pressure": "light",
        "areas": ["piriformis"],
        "pain_before": 6,
        "pain_after": 4,
    }
    created = requests.post(f"{base}/v1/sessions", json=session, headers=auth, timeout=5)
    assert created.status_code == 201
    assert created.json()["started_at"] == "2026-11-20T16:00:00Z"
    read = requests.get(base + created.headers["Location"], headers=auth, timeout=5)
    assert read.status_code == 200 and read.json()["pain_after"] == 4
    too_big = requests.post(
        f"{base}/v1/sessions",
        data=b"x" * (1024 * 1024 + 1),
        headers=auth | {"Content-Type": "application/json"},
        timeout=5,
    )
    assert too_big.status_code == 413
    assert too_big.headers["Content-Type"] == "application/problem+json"
