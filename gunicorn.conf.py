"""gunicorn settings, read from the working directory: `gunicorn "api:create_app()"`.

Threaded workers keep their heartbeat on the main thread, so a long CSV export streaming for
minutes is not killed at the `timeout` (which only catches a stuck worker process).

Each request is logged by the app as one JSON line (api/observability.py), with the route
template instead of the path: gunicorn's own access log is off, since a path can hold a
report link's token.

Metrics: the workers write their samples to PROMETHEUS_MULTIPROC_DIR (a fresh temporary
directory unless set) and GET /metrics adds them up.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Processes rather than threads by default. A request's work is Python on the CPU
# (validation, the analysis), and the threads of one process take turns on its
# interpreter lock: a write holding SQLite's writer lock then waits behind other requests'
# work, and every other writer waits with it. Measured on 2 cores with bench/load.py's P1
# writes, 8 clients, runs of the two shapes in turn (writes/s, median and range; p99 range):
#   SQLite, 3 runs each:      2 workers x 4 threads 165 (164-166), p99 80-93 ms;
#                             5 workers x 1 thread  186 (181-218), p99 76-90 ms.
#   PostgreSQL, 9 and 6 runs: 2 workers x 4 threads 161 (144-167), p99 81-106 ms;
#                             5 workers x 1 thread  161 (160-165), p99 85-126 ms.
# (On PostgreSQL 5 x 1 had written more, 138 against 105, while a write held the change
# counter's row lock from its first insert to its commit; it now takes that lock last:
# models.changes.)
# A worker serves one request at a time: where many long CSV exports run at once, raise
# GUNICORN_THREADS or WEB_CONCURRENCY.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cores() + 1)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
timeout = 30
graceful_timeout = 30
accesslog = None

# Set before the workers are forked (and import prometheus_client), so they inherit it.
_created_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _created_metrics_dir = tempfile.mkdtemp(prefix="sciatica-care-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir


def on_starting(server):
    """An unsafe configuration stops the master at once, in one line (each worker would
    otherwise fail with a traceback after the server began listening); samples of an
    earlier run must not count in this one."""
    from api.config import ConfigError, from_environment

    try:
        from_environment(str(Path(__file__).resolve().parent / "instance"))
    except ConfigError as error:
        sys.exit(f"Refusing to start: {error.message}")
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
