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
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 30
accesslog = None

# Set before the workers are forked (and import prometheus_client), so they inherit it.
_created_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _created_metrics_dir = tempfile.mkdtemp(prefix="sciatica-care-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir


def on_starting(server):
    """Samples of an earlier run must not count in this one."""
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
