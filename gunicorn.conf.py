"""gunicorn settings, read from the working directory: `gunicorn "api:create_app()"`.

Threaded workers keep their heartbeat on the main thread, so a long CSV export streaming for
minutes is not killed at the `timeout` (which only catches a stuck worker process).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 30
accesslog = "-"
