"""The cost of ending access tokens with their refresh family, on a read.

    python bench/token_check.py [--requests 2000] [--rounds 5] [--database-url URL]

Every signed-in request loads its user in one query; a token from sign-in also names its
refresh family, and that query then also checks that the family was not revoked. This
compares `GET /v1/sessions/{id}` (the cheapest read of health data) with such a token
against a token without a family (the query without the check), in-process (no network:
the most the check can weigh), interleaved over several rounds, on an account with 200
refresh families of which half are revoked. Prints the median time per read of each and
the overhead.
"""

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{work}/bench.sqlite3"
    env = os.environ | {"DATABASE_URL": url, "APP_ENV": "development", "RATELIMIT_ENABLED": "false"}
    os.environ.update(env)
    subprocess.run([BIN / "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True)

    from api import create_app
    from api.auth import issue_access_token
    from api.db import session_scope
    from api.services import auth
    from models import RefreshToken, User, utcnow

    app = create_app()

    logging.getLogger("sciatica_care.requests").setLevel(logging.WARNING)  # quiet
    email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context(), session_scope(app) as db:
        user = User(email=email, password_hash="x", role="patient", display_name="Bench")
        db.add(user)
        db.flush()
        families = [uuid.uuid4() for _ in range(200)]
        for n, family in enumerate(families):
            db.add(
                RefreshToken(
                    user_id=user.id,
                    family_id=family,
                    token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                    expires_at=utcnow() + timedelta(days=30),
                    revoked_at=utcnow() if n % 2 else None,
                )
            )
        grant_family = families[0]
        db.flush()
        plain, _ = issue_access_token(user, family_id=None)
        tied, _ = issue_access_token(user, family_id=grant_family)
        assert auth  # the service whose query is measured
    client = app.test_client()
    headers = {"Content-Type": "application/json"}
    created = client.post(
        "/v1/checkins",
        json={"recorded_at": "2026-11-20T08:00:00+00:00", "pain": 4, "symptoms": {}},
        headers=headers | {"Authorization": f"Bearer {plain}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    path = f"/v1/checkins/{created.get_json()['id']}"

    def timed(token: str) -> float:
        bearer = {"Authorization": f"Bearer {token}"}
        start = time.perf_counter()
        for _ in range(args.requests):
            assert client.get(path, headers=bearer).status_code == 200
        return (time.perf_counter() - start) / args.requests * 1e6

    timed(plain), timed(tied)  # warm up
    without, with_family = [], []
    for _ in range(args.rounds):
        without.append(timed(plain))
        with_family.append(timed(tied))
    base, checked = statistics.median(without), statistics.median(with_family)
    print(f"database: {url.split(':')[0]}")
    print(f"GET {path.split('/')[2]}/{{id}} without a family check: {base:.0f} µs per read")
    print(f"GET {path.split('/')[2]}/{{id}} with the family check:   {checked:.0f} µs per read")
    print(f"overhead: {100 * (checked / base - 1):+.1f} % (goal: under 5 %)")


if __name__ == "__main__":
    main()
