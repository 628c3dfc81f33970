"""Container healthchecks for docker-compose (web, worker, beat); exit 0 when healthy.

    python ops/healthcheck.py web      # GET /healthz on loopback, with a Host ALLOWED_HOSTS accepts
    python ops/healthcheck.py worker   # this container's Celery worker answers a ping
    python ops/healthcheck.py beat     # beat sent its every-minute task within the last 3 minutes

Asking http://127.0.0.1:8000/ with no Host header fails in production, where ALLOWED_HOSTS
names the public host only; the web check sends that host instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEAT_TASK = "jit-sweep-every-minute"


def allowed_host() -> str:
    """The first ALLOWED_HOSTS entry, made concrete ('.example.org' -> 'example.org')."""
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = hosts[0] if hosts else "localhost"
    return "localhost" if host == "*" else host.lstrip(".")


def check_web(url: str | None = None) -> bool:
    url = url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    req = urllib.request.Request(url, headers={"Host": allowed_host(), "X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def check_worker(destination: str | None = None) -> bool:
    # TF_WORKER_NAME names the node when the worker runs with -n (the notifications worker).
    destination = destination or f"{os.environ.get('TF_WORKER_NAME', 'celery')}@{socket.gethostname()}"
    res = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "trustfabric", "inspect", "ping", "-d", destination, "--timeout", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return res.returncode == 0 and "pong" in res.stdout


def check_beat(max_age: timedelta = timedelta(minutes=3)) -> bool:
    """Beat is alive when the DatabaseScheduler recorded a run of the every-minute task
    recently (it writes last_run_at each time it sends it)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trustfabric.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    last = PeriodicTask.objects.filter(name=BEAT_TASK).values_list("last_run_at", flat=True).first()
    return last is not None and timezone.now() - last <= max_age


def main(argv: list[str]) -> int:
    checks = {"web": check_web, "worker": check_worker, "beat": check_beat}
    if len(argv) != 1 or argv[0] not in checks:
        print(f"usage: healthcheck.py {{{'|'.join(checks)}}}", file=sys.stderr)
        return 2
    ok = checks[argv[0]]()
    print("healthy" if ok else "unhealthy")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
