"""The benchmark harness: profiles, the production topology on loopback, and figures.

Every ``bench_*`` command takes ``--profile embedded|production``:

- ``embedded``: whatever database the command runs against (a throw-away SQLite file from
  the Makefile), Celery eager, everything in one process.
- ``production``: PostgreSQL and Redis (``DATABASE_URL``, ``CELERY_BROKER_URL``,
  ``CACHE_URL``), and, when the benchmark needs them, gunicorn with 2 workers and separate
  Celery worker processes, as ``docker-compose.yml`` runs them. :class:`Topology` starts them
  on loopback and stops them afterwards; nothing listens beyond 127.0.0.1.

A *figure* is one number held to a target: ``{value, unit, target, aim, met, aim_met,
baseline}``; ``make bench`` collects the figures of every benchmark into one summary.
"""

from __future__ import annotations

import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("embedded", "production")
# Threads per gunicorn worker: a request spends most of its time waiting on PostgreSQL, so
# threads overlap those waits; the GIL still bounds CPU at one core per worker.
WEB_THREADS = 4


class ProfileError(RuntimeError):
    """The environment does not provide what the chosen profile needs."""


def add_profile_argument(parser: Any) -> None:
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="embedded",
        help="embedded: one process, eager Celery; production: PostgreSQL + Redis + gunicorn + Celery workers.",
    )


def require_production() -> None:
    """Fail with a clear message unless PostgreSQL and Redis are configured."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        raise ProfileError("--profile production needs DATABASE_URL pointing at PostgreSQL.")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise ProfileError("--profile production needs CELERY_BROKER_URL pointing at Redis.")


def machine_speed(iterations: int = 1_000_000) -> float:
    """CPU-seconds a fixed pure-Python loop takes here, now. A shared VM's speed drifts by
    half or more within minutes, so a benchmark records this before and after its run: two
    runs' CPU figures compare only when their probes agree."""
    started, total = time.process_time(), 0
    for i in range(iterations):
        total += i * i % 7
    return round(time.process_time() - started, 3)


def pct(samples: list[float], digits: int = 1) -> dict[str, float]:
    s = sorted(samples)
    if not s:
        return {"n": 0}
    return {
        "p50_ms": round(statistics.median(s), digits),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], digits),
        "max_ms": round(s[-1], digits),
        "n": len(s),
    }


def figure(
    value: float,
    *,
    unit: str,
    target: float | None,
    aim: float | None = None,
    higher_is_better: bool = False,
    baseline: Any = None,
) -> dict[str, Any]:
    """One number held to the packet's target and our aim (``PRODUCT.md``)."""

    def ok(limit: float | None) -> bool | None:
        if limit is None:
            return None
        return value >= limit if higher_is_better else value < limit

    out: dict[str, Any] = {"value": value, "unit": unit, "target": target, "aim": aim}
    out["met"], out["aim_met"] = ok(target), ok(aim)
    if baseline is not None:
        out["baseline"] = baseline
    return out


def production_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: the parent's services, production settings."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(40),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


@dataclass
class Worker:
    """A Celery worker process: which queues it consumes, its pool and concurrency."""

    queues: tuple[str, ...]
    pool: str = "prefork"
    concurrency: int = 1
    name: str = ""


@dataclass
class Topology:
    """gunicorn (``web_workers``) and Celery workers, started on loopback for one benchmark.

    Use as a context manager; ``url`` is the web tier's base URL. Children get the parent's
    database and broker, ``DJANGO_DEBUG=false`` and the ``env`` given here."""

    web_workers: int = 0
    workers: list[Worker] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[Path] = field(default_factory=list)

    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = ROOT / "var" / f"bench-{name}-{os.getpid()}.log"
        log.parent.mkdir(exist_ok=True)
        self._logs.append(log)
        with log.open("wb") as fh:
            proc = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                argv, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._procs.append(proc)

    def start(self) -> None:
        require_production()
        from devtools.servers import free_port

        env = production_env(**self.env)
        bin_dir = Path(sys.executable).parent
        if self.web_workers:
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            env = {**env, "SITE_URL": self.url}
            self._spawn(
                "web",
                [str(bin_dir / "gunicorn"), "trustfabric.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(self.web_workers), "--worker-class", "gthread", "--threads", str(WEB_THREADS),
                 "--log-level", "warning"],
                env,
            )  # fmt: skip
        names = []
        for i, w in enumerate(self.workers):
            name = w.name or f"bench{i}-{os.getpid()}@%h"
            names.append(name.replace("%h", _hostname()))
            self._spawn(
                f"worker{i}",
                [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "-Q", ",".join(w.queues),
                 "-P", w.pool, "-c", str(w.concurrency), "-n", name, "--without-gossip", "--without-mingle",
                 "-l", "WARNING"],
                env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        if self.web_workers:
            self._wait(lambda: _http_ok(self.url + "/healthz"), deadline, "gunicorn did not answer /healthz")
        if names:
            from trustfabric.celery import app

            def ready() -> bool:
                replies = app.control.ping(destination=names, timeout=0.5) or []
                return len(replies) == len(names)

            self._wait(ready, deadline, "the Celery workers did not answer a ping")

    def _wait(self, check: Any, deadline: float, message: str) -> None:
        while time.monotonic() < deadline:
            for proc, log in zip(self._procs, self._logs, strict=True):
                if proc.poll() is not None:
                    raise ProfileError(f"{message}: a process exited ({log}): {log.read_text()[-800:]}")
            if check():
                return
            time.sleep(0.2)
        raise ProfileError(message)

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._procs.clear()

    def logs(self) -> dict[str, str]:
        return {log.name: log.read_text(errors="replace")[-2000:] for log in self._logs if log.exists()}


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except OSError:
        return False
