"""gunicorn settings for Trust Fabric: prometheus-client multiprocess mode.

Every worker writes its samples to PROMETHEUS_MULTIPROC_DIR and /metrics merges them, so a
scrape sees the whole server, not the one worker that answered. The directory is emptied
when the master starts (stale files would resurrect old counters) and a dead worker's live
gauges are dropped.
"""

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# Threads overlap the waits on PostgreSQL (docs/scaling.md); workers bound the CPU.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None

# Must be set before any worker imports prometheus_client (the value class is chosen then).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "tf-prometheus-web"))


def on_starting(server: object) -> None:
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
