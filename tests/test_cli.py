"""CLI: account creation and the demo clinic."""

from sqlalchemy import func, select

import analyzer
from models import Alert, CareLink, CheckIn, MassageSession, User


def test_users_create_makes_a_therapist(app, db):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "--email",
            "T@Clinic.org",
            "--password",
            "long enough pass",
            "--role",
            "therapist",
            "--name",
            "Therapist",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.scalar(select(User).where(User.email == "t@clinic.org"))
    assert user.role == "therapist" and user.password_hash.startswith("$argon2id$")


def test_users_create_refuses_short_password_and_duplicates(app, db):
    runner = app.test_cli_runner()
    short = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@b.org",
            "--password",
            "short",
            "--role",
            "admin",
            "--name",
            "A",
        ]
    )
    assert short.exit_code != 0 and db.scalar(select(User)) is None
    args = [
        "users",
        "create",
        "--email",
        "a@b.org",
        "--password",
        "long enough pass",
        "--role",
        "admin",
        "--name",
        "A",
    ]
    assert runner.invoke(args=args).exit_code == 0
    again = runner.invoke(args=args)
    assert again.exit_code != 0 and "already exists" in again.output


def test_seed_demo_builds_a_living_clinic_once(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "therapist@demo.clinic" in first.output
    counts = [
        db.scalar(select(func.count()).select_from(m))
        for m in (User, CareLink, MassageSession, CheckIn)
    ]
    assert counts[0] == 5 and counts[1] == 4 and counts[2] == 16 and counts[3] == 14
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    again = [
        db.scalar(select(func.count()).select_from(m))
        for m in (User, CareLink, MassageSession, CheckIn)
    ]
    assert again == counts


def test_demo_logins_work(app, client):
    output = app.test_cli_runner().invoke(args=["seed-demo"]).output
    line = next(row for row in output.splitlines() if "therapist@demo.clinic" in row)
    _, email, password = line.split()
    resp = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert resp.status_code == 200
    token = resp.get_json()["access_token"]
    sessions = client.get("/v1/sessions?limit=200", headers={"Authorization": f"Bearer {token}"})
    assert len(sessions.get_json()["items"]) == 16


def test_demo_data_shows_every_rule_at_least_once(app, db):
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    assert set(db.scalars(select(Alert.rule))) == set(analyzer.RULES)
