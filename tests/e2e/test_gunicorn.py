"""The install-and-run path: migrations, demo data and a real gunicorn on loopback."""

import pytest
import requests

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
