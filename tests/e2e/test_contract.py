"""schemathesis drives the running server from openapi.yaml, signed in as each role.

All checks run (server errors, status codes, content types, headers, response schemas,
negative and positive data, use after free...), configured by schemathesis.toml.
"""

import subprocess

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import BIN

pytestmark = pytest.mark.e2e
ROLES = {
    "patient": ("improving@demo.clinic", "demo-patient-pass"),
    "therapist": ("therapist@demo.clinic", "demo-therapist-pass"),
    "admin": ("admin@demo.clinic", "demo-admin-pass"),
}


@pytest.mark.parametrize("role", ROLES)
def test_the_server_keeps_its_contract(server, role, tmp_path):
    token = server.token(*ROLES[role])
    result = subprocess.run(
        [
            BIN / "schemathesis",
            "run",
            str(ROOT / "openapi.yaml"),
            "--url",
            server.base,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            "15",
            "--seed",
            "20261124",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
