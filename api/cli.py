"""Command-line tasks: accounts, care links, demo data, re-analysis, tombstone and
idempotency-record purges, the webhook worker."""

import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api import idempotency
from api.db import session_scope
from api.errors import DomainError
from api.schemas.users import UserCreateIn
from api.services import analysis, auth, care_links, demo, sync, users, webhooks
from models import CareLink, User
from models.user import ROLES

log = logging.getLogger("sciatica_care.webhooks")
# The longest wait between tries of a webhook worker that meets database errors (seconds).
WORKER_BACKOFF_MAX = 30


def _read_password() -> str:
    """From a hidden prompt (typed twice), or the first line of stdin when piped; never from
    the command line, where `ps` and the shell history would keep it."""
    stdin = sys.stdin
    if stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < 10:
        raise click.ClickException("the password must be at least 10 characters")
    return password


@contextmanager
def operator_session() -> Iterator[Session]:
    """The command's one unit of work; a domain refusal ends it with its message, as an
    error of the command (exit status 1), and nothing is saved."""
    try:
        with session_scope(current_app) as db_session:
            yield db_session
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc


def _account(db_session, email: str) -> User:
    user = users.get_by_email(db_session=db_session, email=email)
    if user is None:
        raise click.ClickException(f"no account with the email {email}")
    return user


def init_app(app: Flask) -> None:
    app.cli.add_command(users_group)
    app.cli.add_command(care_links_group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(analyze)
    app.cli.add_command(purge_tombstones)
    app.cli.add_command(purge_idempotency)
    app.cli.add_command(webhooks_group)


@click.group("users", cls=AppGroup, help="Manage accounts.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", required=True, help="Display name.")
def create_user(email: str, role: str, display_name: str) -> None:
    """Create an account (therapists and admins are created only this way or by an admin).

    The password is asked for (or read from stdin)."""
    # The same checks as the API's: an address no patient could link would be useless.
    errors = UserCreateIn().validate(
        {"email": email, "role": role, "display_name": display_name}, partial=("password",)
    )
    if errors:
        raise click.ClickException(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        )
    with operator_session() as db_session:
        users.refuse_taken(db_session=db_session, email=email)
    password = _read_password()
    with operator_session() as db_session:
        user = users.create(
            db_session=db_session,
            email=email,
            password=password,
            display_name=display_name,
            role=role,
        )
    click.echo(f"created {user.role} {user.email} ({user.id})")


@users_group.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only this role.")
def list_users(role: str | None) -> None:
    """Print every account: email, role, state, id."""
    with operator_session() as db_session:
        for user in db_session.scalars(users.get_all(role=role)):
            state = "deactivated" if user.deactivated_at else "active"
            click.echo(f"{user.email:<40} {user.role:<9} {state:<11} {user.id}")


@users_group.command("set-password")
@click.argument("email")
def set_password(email: str) -> None:
    """Set an account's password (asked for, or read from stdin); every token it holds stops
    working."""
    password = _read_password()
    with operator_session() as db_session:
        user = _account(db_session, email)
        auth.reset_password(db_session=db_session, user=user, new_password=password)
    click.echo(f"password set for {user.email}; its sessions ended")


@users_group.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Deactivate an account: no sign-in, every token stops at once, its records stay."""
    with operator_session() as db_session:
        user = _account(db_session, email)
        auth.set_active(db_session=db_session, user=user, active=False, actor=None)
    click.echo(f"deactivated {user.email}")


@users_group.command("reactivate")
@click.argument("email")
def reactivate(email: str) -> None:
    """Let a deactivated account sign in again."""
    with operator_session() as db_session:
        user = _account(db_session, email)
        auth.set_active(db_session=db_session, user=user, active=True, actor=None)
    click.echo(f"reactivated {user.email}")


@click.group("care-links", cls=AppGroup, help="Manage who may see whose records.")
def care_links_group() -> None:
    pass


def _describe(link: CareLink, emails: dict) -> str:
    return (
        f"{link.id}  {emails[link.patient_id]:<32} -> {emails[link.therapist_id]:<32} {link.status}"
    )


@care_links_group.command("list")
@click.option("--email", help="Only links of this patient or therapist.")
@click.option("--status", type=click.Choice(["active", "ended"]), help="Only this status.")
def list_care_links(email: str | None, status: str | None) -> None:
    """Print care links: id, patient -> therapist, status."""
    with operator_session() as db_session:
        owner = _account(db_session, email) if email else None
        query = care_links.get_all(user=owner, status=status).order_by(CareLink.created_at)
        links = db_session.scalars(query).all()
        emails = dict(db_session.execute(select(User.id, User.email)).tuples().all())
        for link in links:
            click.echo(_describe(link, emails))


@care_links_group.command("create")
@click.option("--patient", "patient_email", required=True, help="The patient's email.")
@click.option("--therapist", "therapist_email", required=True, help="The therapist's email.")
def create_care_link(patient_email: str, therapist_email: str) -> None:
    """Give a therapist access to a patient's records (as the patient would)."""
    with operator_session() as db_session:
        patient = _account(db_session, patient_email)
        if patient.role != "patient":
            raise click.ClickException(f"{patient.email} is not a patient account")
        link = care_links.create(
            db_session=db_session,
            patient=patient,
            therapist_email=therapist_email,
            by_operator=True,
        )
    click.echo(f"created {link.id}")


@care_links_group.command("end")
@click.argument("link_id", type=click.UUID)
def end_care_link(link_id) -> None:
    """End a care link: the therapist's access ends at once."""
    with operator_session() as db_session:
        care_links.end(db_session=db_session, user=None, link_id=link_id)
    click.echo(f"ended {link_id}")


@click.group("webhooks", cls=AppGroup, help="Deliver alert events to webhook subscribers.")
def webhooks_group() -> None:
    pass


@webhooks_group.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (cron, tests).")
@click.option("--idle", default=0.2, show_default=True, help="Seconds to wait when idle.")
def work(once: bool, idle: float) -> None:
    """Deliver due webhook events until stopped; SIGTERM finishes the attempt in hand first."""
    app = current_app._get_current_object()
    settings = webhooks.Settings.from_config(app.config)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    total: Counter = Counter()
    failures = 0
    while True:
        try:
            counts = webhooks.drain(
                app.extensions["db_sessionmaker"], settings, stop=lambda: stopping
            )
        except DBAPIError as error:
            if once:
                raise
            # The database restarting, or SQLite locked past its timeout: every delivery
            # begun was recorded (drain), the rest stay due; wait, then try again.
            failures += 1
            pause = min(WORKER_BACKOFF_MAX, 2 ** (failures - 1))
            log.warning("webhook worker: database error (%s); again in %s s", error, pause)
            _sleep_unless(stopping, pause)
            continue
        failures = 0
        total.update(counts)
        if once or stopping:
            # What this run did, from its start.
            click.echo(" ".join(f"{k}={total[k]}" for k in counts))
            return
        if not any(counts.values()):
            time.sleep(idle)


def _sleep_unless(stopping: list, seconds: float) -> None:
    """Sleep, waking early once a stop was asked."""
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        time.sleep(min(0.2, seconds))


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Load a demo clinic: a therapist and patients with realistic histories."""
    with operator_session() as db_session:
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
    with operator_session() as db_session:
        found = analysis.patients(db_session=db_session, patient_id=patient_id)
        for patient in found:
            changes = analysis.reanalyze(
                db_session=db_session, patient=patient, focus=None, corrected=None
            )
            db_session.commit()
            for verb in totals:
                for alert in getattr(changes, verb):
                    totals[verb] += 1
                    click.echo(f"{verb:<8} {alert.severity:<7} {alert.rule:<24} {patient.email}")
    click.echo(", ".join(f"{count} {verb}" for verb, count in totals.items()))


@click.command("purge-idempotency")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@with_appcontext
def purge_idempotency(dry_run: bool) -> None:
    """Delete stored Idempotency-Key responses past IDEMPOTENCY_TTL_SECONDS (they hold what
    they answered: run it daily)."""
    with operator_session() as db_session:
        removed = idempotency.purge_expired(db_session=db_session, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {removed} expired idempotency records")


@click.command("purge-tombstones")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@with_appcontext
def purge_tombstones(dry_run: bool) -> None:
    """Delete tombstones older than SYNC_TOMBSTONE_RETENTION_DAYS (older cursors get 410)."""
    days = current_app.config["SYNC_TOMBSTONE_RETENTION_DAYS"]
    with operator_session() as db_session:
        removed, watermark = sync.purge_tombstones(
            db_session=db_session, older_than=timedelta(days=days), dry_run=dry_run
        )
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {removed} tombstones older than {days} days (through change {watermark})")
