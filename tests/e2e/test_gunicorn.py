"""The install-and-run path: migrations, demo data and a real gunicorn on loopback."""

import json
import os
import subprocess

import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import BIN, _free_port

pytestmark = pytest.mark.e2e


def test_probes_answer(server):
    base = server.base
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{base}/readyz", timeout=5).json()
    assert ready["status"] == "ready" and ready["rate_limit_storage"]["reachable"] is True


def test_demo_therapist_sees_demo_patients(server):
    base, output = server.base, server.seed_output
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
    base = server.base
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


def test_metrics_add_up_every_worker_and_the_log_has_one_json_line_per_request(server):
    from prometheus_client.parser import text_string_to_metric_families

    from tests.e2e.conftest import METRICS_TOKEN

    def healthz_count() -> float:
        text = requests.get(
            f"{server.base}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=5,
        ).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_requests_total" and sample.labels.get("route") == "/healthz"
        )

    assert requests.get(f"{server.base}/metrics", timeout=5).status_code == 401
    before = healthz_count()
    ids = [f"e2e-trace-{n}" for n in range(40)]
    for request_id in ids:  # spread over both workers by the kernel
        resp = requests.get(
            f"{server.base}/healthz", headers={"X-Request-ID": request_id}, timeout=5
        )
        assert resp.headers["X-Request-ID"] == request_id
    assert healthz_count() - before == 40  # whichever worker answers the scrape
    logged = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("route") == "/healthz":
                logged.append(record)
    by_id = {r["request_id"]: r for r in logged}
    assert set(ids) <= set(by_id)
    assert {by_id[i]["status"] for i in ids} == {200}


@pytest.mark.parametrize("command", ["gunicorn", "flask"])
def test_an_unsafe_configuration_is_refused_in_one_line_before_serving(command, tmp_path):
    """Production without a real SECRET_KEY: gunicorn's master stops before it listens (its
    workers would each print a traceback), and the command line says why without one."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "TEST_DATABASE_URL")}
    env |= {"APP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/refused.sqlite3"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    args = {
        "gunicorn": [BIN / "gunicorn", "--bind", f"127.0.0.1:{_free_port()}", "api:create_app()"],
        "flask": [BIN / "flask", "--app", "api", "users", "list"],
    }[command]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in output and "Traceback" not in output
    assert "Listening at" not in output
