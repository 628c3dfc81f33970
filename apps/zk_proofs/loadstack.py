"""What ``manage.py bench_load`` runs the load against, on loopback: a private redis-server
(broker and cache; chaos may pause it without touching anyone else's Redis), gunicorn and
a Celery worker for the ``zk`` queue, production settings, the caller's PostgreSQL. CPU of
every process is read from /proc (each child leads its own session, so its workers and pool
processes are found by session id)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.bench import ROOT, WEB_THREADS, ProfileError, _http_ok, production_env

_TICKS = os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(sid: int) -> float:
    """utime + stime (+ waited-for children) of every live process in session ``sid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:
            total += sum(int(x) for x in fields[11:15])
    return total / _TICKS


@dataclass
class Stack:
    redis_port: int
    web_port: int
    web_workers: int = 2
    worker_concurrency: int = 1
    env_extra: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cpu_dead: dict[str, float] = field(default_factory=dict)  # CPU of processes chaos killed
    _env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}"

    def env(self) -> dict[str, str]:
        """One environment for every process (one SECRET_KEY: web and worker must derive the
        same transcript key)."""
        if self._env:
            return self._env
        self._env = production_env(
            CELERY_BROKER_URL=f"{self.redis_url}/0",
            CELERY_RESULT_BACKEND=f"{self.redis_url}/0",
            CACHE_URL=f"{self.redis_url}/1",
            SITE_URL=self.url,
            **self.env_extra,
        )
        return self._env

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = ROOT / "var" / f"bench-load-{name}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("ab") as fh:
            self.procs[name] = subprocess.Popen(  # noqa: S603 - our binaries, our arguments
                argv, cwd=ROOT, env=self.env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self._spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
        )  # fmt: skip
        self._wait(lambda: self._redis_ping(), "the private redis-server did not answer")
        self._spawn(
            "web",
            [str(bin_dir / "gunicorn"), "trustfabric.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", str(self.web_workers), "--worker-class", "gthread", "--threads", str(WEB_THREADS),
             "--keep-alive", "75", "--log-level", "warning"],
        )  # fmt: skip
        self.start_worker()
        self._wait(lambda: _http_ok(self.url + "/healthz"), "gunicorn did not answer /healthz")

    def start_worker(self) -> None:
        self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "trustfabric", "worker", "-Q", "zk,default", "-P", "prefork",
             "-c", str(self.worker_concurrency), "-n", f"bench-load-{os.getpid()}@%h", "--without-gossip",
             "--without-mingle", "-l", "WARNING"],
        )  # fmt: skip

    def kill_worker(self) -> None:
        """Chaos: SIGKILL the worker and its pool processes (no warm shutdown), then restart."""
        proc = self.procs["worker"]
        self.cpu_dead["worker"] = self.cpu_dead.get("worker", 0.0) + session_cpu_seconds(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.start_worker()

    def pause_redis(self, seconds: int) -> threading.Thread:
        """Chaos: the private Redis blocks every client for ``seconds`` (DEBUG SLEEP)."""
        argv = ["redis-cli", "-p", str(self.redis_port), "DEBUG", "SLEEP", str(seconds)]
        thread = threading.Thread(target=subprocess.run, args=(argv,), kwargs={"capture_output": True})
        thread.start()
        return thread

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each part (the worker including killed incarnations)."""
        return {
            name: round(session_cpu_seconds(p.pid) + self.cpu_dead.get(name, 0.0), 3) for name, p in self.procs.items()
        }

    def _redis_ping(self) -> bool:
        argv = ["redis-cli", "-p", str(self.redis_port), "PING"]
        done = subprocess.run(argv, capture_output=True, text=True)  # noqa: S603 - fixed arguments, our port
        return done.stdout.strip() == "PONG"

    def _wait(self, check: Any, message: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ProfileError(f"{message}: {name} exited (var/bench-load-{name}.log)")
            if check():
                return
            time.sleep(0.2)
        raise ProfileError(message)

    def stop(self) -> None:
        order = list(reversed(self.procs.values()))  # Redis last: the web tier needs it to the end
        for proc in order:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20) if proc is order[-1] else None
        for proc in order:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
