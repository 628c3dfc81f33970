"""make bench: every benchmark, in the embedded and the production profile, and one JSON
summary of the figures held to targets (value, target, aim, met, the in-run baseline).

Each benchmark runs as its own ``manage.py bench_*`` process with the profile's
environment: embedded = a fresh SQLite file, eager Celery, local-memory cache; production =
``BENCH_DATABASE_URL`` (created if missing, migrated), ``BENCH_BROKER_URL`` and
``BENCH_CACHE_URL``, and whatever processes the benchmark starts itself (gunicorn, Celery
workers; see apps/core/bench.py). Full reports go to ``var/bench/<profile>-<name>.json``.

``bench_lac`` and ``bench_zk`` have no ``--profile`` flag yet: they run as they are under
each profile's environment (their figures are in-process CPU work; what their production
profile should add is noted in the summary's ``notes``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from apps.core.bench import PROFILES, ROOT

BENCHES = {
    # name: (command, takes --profile, takes --quick)
    "jit": ("bench_jit", True, False),
    "pcq": ("bench_pcq", True, True),
    "lac": ("bench_lac", False, True),
    "zk": ("bench_zk", False, True),
    "lint": ("bench_lint", False, True),
}
NOTES = {
    "lint": "bench_lint is in-process CPU work (compile, lint, diff of policy source); the lint API adds one "
    "dataset-facts query and a history tally cached for 60 s.",
    "lac": "bench_lac has no --profile yet: it runs in-process under each profile's environment. Its production "
    "profile should time the LAC check inside a gunicorn worker (the graph cache per process) on PostgreSQL.",
    "zk": "bench_zk has no --profile yet: it runs in-process under each profile's environment. Its production "
    "profile should drive the session API through gunicorn and verify batches on the zk queue's worker.",
}
SERVICE_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL", "TF_REQUIRE_SERVICES")


def _env(profile: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PYTHONPATH"] = str(ROOT)
    if profile == "embedded":
        env["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench-embedded.sqlite3'}"
        return env
    env["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trustfabric_bench")
    env["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
    env["CACHE_URL"] = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15")
    return env


def _create_database(url: str) -> None:
    """The production profile's database, created on first use (a clean clone has none)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def _figures(name: str, report: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's figures: its ``targets`` block, or (for a report without one) every
    p95 that sits next to an ``aim_p95_ms``."""
    if isinstance(report.get("targets"), dict):
        return report["targets"]
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "p95_ms" in node and "aim_p95_ms" in node:
                value, aim = node["p95_ms"], node["aim_p95_ms"]
                found[path or name] = {"value": value, "unit": "ms", "target": None, "aim": aim,
                                       "met": None, "aim_met": value < aim, "derived": "p95_ms next to aim_p95_ms"}  # fmt: skip
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")

    walk(report, "")
    return found


class Command(BaseCommand):
    help = "Run every benchmark in both profiles and print one JSON summary."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--profile", choices=(*PROFILES, "both"), default="both")
        parser.add_argument("--only", default=",".join(BENCHES), help="Comma-separated: " + ", ".join(BENCHES))
        parser.add_argument("--quick", action="store_true", help="Smaller runs where a benchmark supports it.")
        parser.add_argument(
            "--prepare-only", action="store_true", help="Create and migrate the profile's database, then stop."
        )

    def handle(
        self,
        *args: Any,
        profile: str = "both",
        only: str = "",
        quick: bool = False,
        prepare_only: bool = False,
        **opts: Any,
    ) -> None:
        if prepare_only:
            for prof in PROFILES if profile == "both" else [profile]:
                problem = self._prepare(prof, _env(prof))
                if problem:
                    raise CommandError(problem)
            return
        names = [n for n in only.split(",") if n]
        unknown = set(names) - set(BENCHES)
        if unknown:
            raise CommandError(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        profiles = list(PROFILES) if profile == "both" else [profile]
        out_dir = ROOT / "var" / "bench"
        out_dir.mkdir(parents=True, exist_ok=True)
        summary: list[dict[str, Any]] = []
        runs: dict[str, Any] = {}
        for prof in profiles:
            env = _env(prof)
            prepared = self._prepare(prof, env)
            for name in names:
                key = f"{prof}-{name}"
                if prepared is not None:
                    runs[key] = {"error": prepared}
                    continue
                runs[key] = self._run(name, prof, env, quick, out_dir / f"{key}.json")
                for figure, data in runs[key].pop("figures", {}).items():
                    summary.append({"profile": prof, "benchmark": name, "figure": figure, **data})
        self.stdout.write(
            json.dumps(
                {
                    "summary": summary,
                    "runs": runs,
                    "notes": {n: NOTES[n] for n in names if n in NOTES},
                    "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)},
                },
                indent=2,
                default=str,
            )
        )

    def _prepare(self, profile: str, env: dict[str, str]) -> str | None:
        """Fresh SQLite file, or the PostgreSQL database created; then migrate. An error text or None."""
        try:
            if profile == "embedded":
                (ROOT / "var" / "bench-embedded.sqlite3").unlink(missing_ok=True)
            else:
                _create_database(env["DATABASE_URL"])
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the other profile still runs
            detail = getattr(exc, "stderr", "") or ""
            return f"{profile} profile unavailable: {type(exc).__name__}: {exc} {detail[-400:]}"
        return None

    def _run(self, name: str, profile: str, env: dict[str, str], quick: bool, path: Path) -> dict[str, Any]:
        command, takes_profile, takes_quick = BENCHES[name]
        argv = [sys.executable, "manage.py", command]
        if takes_profile:
            argv += ["--profile", profile]
        if quick and takes_quick:
            argv.append("--quick")
        started = time.monotonic()
        try:
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)  # noqa: S603
        except subprocess.TimeoutExpired:
            return {"error": "timed out after 3600 s"}
        seconds = round(time.monotonic() - started, 1)
        if done.returncode != 0:
            return {"error": f"exit {done.returncode}: {done.stderr[-600:]}", "seconds": seconds}
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            return {"error": "did not print JSON: " + done.stdout[-300:], "seconds": seconds}
        path.write_text(json.dumps(report, indent=2))
        return {
            "report": str(path.relative_to(ROOT)),
            "seconds": seconds,
            "profile_flag": takes_profile,
            "figures": _figures(name, report),
        }
