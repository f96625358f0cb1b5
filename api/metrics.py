"""Prometheus metrics of this process (no Flask here: services count through it).

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py) and a scrape adds them up (multiprocess mode). Figures that live in the
database (the outbox) are read at scrape time, by whichever process answers.
"""

import os
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.orm import Session

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ALERTS_RAISED = Counter(
    "alerts_raised", "Alerts raised (committed), by rule and severity", ["rule", "severity"]
)
ANALYZER = Histogram(
    "analyzer_duration_seconds",
    "Time the analyzer took to judge one patient's window after a write",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)

# SQLite only: its one writer's lock (api.db's writers' queue). Held most of the time, it is
# the limit of writes on this database: move to PostgreSQL (README, "Deployment").
WRITER_WAIT = Histogram(
    "sqlite_writer_wait_seconds",
    "Time a write waited for its turn at the SQLite writer lock",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WRITER_HELD = Histogram(
    "sqlite_writer_held_seconds",
    "Time a write held the SQLite writer lock, from its turn to its commit or rollback",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


# Alerts raised are counted when their transaction commits, never for a rolled-back one (the
# alert service leaves them in the session's ``info``): on every session, whoever made it.
@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for rule, severity in session.info.pop("alerts_raised", ()):
        ALERTS_RAISED.labels(rule=rule, severity=severity).inc()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction) -> None:
    # Only the outermost transaction's end: a savepoint's rollback (or a failed flush inside
    # one) leaves the rest of the transaction, and its alerts, standing.
    if previous_transaction.parent is None:
        session.info.pop("alerts_raised", None)


def exposition(backlog: tuple[int, datetime | None], by_status: dict[str, int], now) -> bytes:
    """The text a scrape reads: every process's samples, and the outbox as the database says."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    database = CollectorRegistry()
    pending, oldest = backlog
    Gauge(
        "outbox_pending_deliveries",
        "Webhook deliveries waiting to be sent or retried",
        registry=database,
    ).set(pending)
    Gauge(
        "outbox_oldest_pending_age_seconds",
        "Age of the oldest event still waiting for a delivery (0 when none)",
        registry=database,
    ).set((now - oldest).total_seconds() if oldest else 0)
    deliveries = Gauge(
        "webhook_deliveries",
        "Webhook deliveries by outcome so far (pending, delivered, failed)",
        ["status"],
        registry=database,
    )
    for status, count in by_status.items():
        deliveries.labels(status=status).set(count)
    return text + generate_latest(database)
