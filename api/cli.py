"""Command-line tasks: create accounts, load demo data."""

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from api.db import session_scope
from api.errors import DomainError
from api.services import analysis, demo, sync, users
from models.user import ROLES


def init_app(app: Flask) -> None:
    app.cli.add_command(users_group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(analyze)
    app.cli.add_command(purge_tombstones)


@click.group("users", cls=AppGroup, help="Manage accounts.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
def create_user(email: str, password: str, role: str, display_name: str) -> None:
    """Create an account (therapists and admins are created only this way or by an admin)."""
    if len(password) < 10:
        raise click.BadParameter("must be at least 10 characters", param_hint="--password")
    with session_scope(current_app) as db_session:
        try:
            user = users.create(
                db_session=db_session,
                email=email,
                password=password,
                display_name=display_name,
                role=role,
            )
        except DomainError as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(f"created {user.role} {user.email} ({user.id})")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Load a demo clinic: a therapist and patients with realistic histories."""
    with session_scope(current_app) as db_session:
        logins = demo.seed(db_session=db_session)
    click.echo("Demo clinic ready. Sign in with:")
    for role, email, password in logins:
        click.echo(f"  {role:<9} {email:<32} {password}")


@click.command("analyze")
@click.option("--patient", "patient_id", type=click.UUID, help="Only this patient.")
@with_appcontext
def analyze(patient_id) -> None:
    """Re-run the analyzer over stored data; print what it raised, updated and resolved."""
    totals = {"raised": 0, "updated": 0, "resolved": 0}
    with session_scope(current_app) as db_session:
        try:
            found = analysis.patients(db_session=db_session, patient_id=patient_id)
        except DomainError as exc:
            raise click.ClickException(exc.detail) from exc
        for patient in found:
            changes = analysis.reanalyze(db_session=db_session, patient=patient, focus=None)
            db_session.commit()
            for verb in totals:
                for alert in getattr(changes, verb):
                    totals[verb] += 1
                    click.echo(f"{verb:<8} {alert.severity:<7} {alert.rule:<24} {patient.email}")
    click.echo(", ".join(f"{count} {verb}" for verb, count in totals.items()))


@click.command("purge-tombstones")
@with_appcontext
def purge_tombstones() -> None:
    """Delete tombstones older than SYNC_TOMBSTONE_RETENTION_DAYS (older cursors get 410)."""
    days = current_app.config["SYNC_TOMBSTONE_RETENTION_DAYS"]
    with session_scope(current_app) as db_session:
        removed, watermark = sync.purge_tombstones(
            db_session=db_session, older_than=timedelta(days=days)
        )
    click.echo(f"removed {removed} tombstones older than {days} days (through change {watermark})")
