"""make gameday: on-call gameday #2 against a local stack, scripted and measured.

The stack, all on loopback and all started here: a PostgreSQL 15 cluster and a Redis of its
own, fault-injecting TCP proxies in front of both (ops/faultproxy.py), gunicorn serving the
app (multiprocess /metrics), and a real Prometheus scraping it every 2 s and evaluating
ops/prometheus/rules.yml (the same rules; the group interval is 5 s instead of 1 m so the
gameday is minutes, not hours; every `for:` is unchanged). Three tenants send steady API
traffic throughout. The scenario:

1. quota contention: northbridge floods (many times its quota) while the others keep going;
2. network jitter and loss between the app and PostgreSQL and Redis;
3. policy drift: a prod hotfix activates another policy version outside promotion; the
   scripted on-call reverts it when TFPolicyDrift fires;
4. recovery: faults off, traffic as in the baseline.

It records when each fault began and when its alert fired (time to alert, MTTA), which
SLO alerts fired (breaches), whether each tenant's error ratio and latency came back, and
writes a postmortem skeleton with the timeline to var/gameday/. Prints one JSON object.

    python ops/gameday.py [--baseline 30] [--flood 150] [--jitter 170] [--recovery 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dr_drill import PY, ROOT, Cluster, free_port, sql
from faultproxy import FaultProxy

FLOOD_TENANT = "northbridge"
RATE = "600/min"  # per-tenant API quota during the gameday (10 req/s)
EXPECTED = {"flood": ["TFTenantFlooding"], "jitter": ["BudgetBurn"], "drift": ["TFPolicyDrift"]}


class Load:
    """Steady traffic per tenant (and a flood on demand), every answer recorded."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens
        self.records: list[tuple[float, str, int, float]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.flooding = threading.Event()
        self.threads: list[threading.Thread] = []

    def _one(self, tenant: str) -> None:
        req = urllib.request.Request(self.url + "/api/me/", headers={"Authorization": f"Bearer {self.tokens[tenant]}"})  # noqa: S310
        t0 = time.time()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 599  # no answer at all
        with self.lock:
            self.records.append((t0, tenant, status, time.time() - t0))

    def _steady(self, tenant: str, per_second: float) -> None:
        while not self.stop.is_set():
            started = time.time()
            self._one(tenant)
            time.sleep(max(0.0, 1 / per_second - (time.time() - started)))

    def _flood(self, tenant: str) -> None:
        while not self.stop.is_set():
            if self.flooding.is_set():
                self._one(tenant)
            else:
                time.sleep(0.1)

    def start(self, per_second: float = 3.0, flood_threads: int = 6) -> None:
        for tenant in self.tokens:
            self.threads.append(threading.Thread(target=self._steady, args=(tenant, per_second), daemon=True))
        for _ in range(flood_threads):
            self.threads.append(threading.Thread(target=self._flood, args=(FLOOD_TENANT,), daemon=True))
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def summary(self, start: float, end: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.lock:
            rows = [r for r in self.records if start <= r[0] < end]
        for tenant in self.tokens:
            mine = [r for r in rows if r[1] == tenant]
            lat = sorted(r[3] for r in mine if r[2] != 429)
            served = [r for r in mine if r[2] != 429]
            out[tenant] = {
                "requests": len(mine),
                "quota_429": sum(1 for r in mine if r[2] == 429),
                "errors_5xx": sum(1 for r in mine if r[2] >= 500),
                "error_ratio": round(sum(1 for r in served if r[2] >= 500) / len(served), 4) if served else None,
                "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1) if lat else None,
                "median_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
            }
        return out


class AlertWatch:
    """Polls Prometheus' /api/v1/alerts and keeps every state change with its time."""

    def __init__(self, prom: str) -> None:
        self.prom = prom
        self.events: list[dict[str, Any]] = []
        self.state: dict[tuple[str, str], str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.prom + "/api/v1/alerts", timeout=5) as resp:  # noqa: S310
                    alerts = json.loads(resp.read())["data"]["alerts"]
            except (OSError, ValueError):
                alerts = None
            if alerts is not None:
                now = time.time()
                seen = {}
                for a in alerts:
                    key = (a["labels"]["alertname"], a["labels"].get("tenant", ""))
                    seen[key] = a["state"]
                for key in set(self.state) | set(seen):
                    old, new = self.state.get(key, "inactive"), seen.get(key, "inactive")
                    if old != new:
                        self.events.append({"t": now, "alert": key[0], "tenant": key[1], "from": old, "to": new})
                self.state = seen
            time.sleep(1)

    def first(self, names: list[str], state: str, after: float) -> dict[str, Any] | None:
        return next(
            (e for e in self.events if e["to"] == state and e["t"] >= after and any(n in e["alert"] for n in names)),
            None,
        )


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def _manage(*args: str, env: dict[str, str]) -> str:
    res = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {res.stderr[-1500:]}")
    return res.stdout


def postmortem(result: dict[str, Any], timeline: list[dict[str, Any]], t0: float) -> Path:
    out_dir = ROOT / "var" / "gameday"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t0))
    path = out_dir / f"postmortem-{stamp}.md"
    rel = lambda t: f"T+{t - t0:6.1f}s"  # noqa: E731
    lines = [
        f"# Postmortem (skeleton): gameday #2, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))}",
        "",
        "Status: draft (generated by `make gameday`; fill in the sections in italics).",
        "",
        "## Summary",
        "",
        "Scripted scenario: quota contention (one tenant floods), network jitter and loss between the app and "
        "PostgreSQL/Redis, and a policy drift (prod hotfix).",
        "",
        "| Fault | Alert | Time to alert (MTTA) | Recovered |",
        "|---|---|---|---|",
    ]
    for fault, r in result["faults"].items():
        mtta = f"{r['mtta_s']:.1f} s" if r["mtta_s"] is not None else "no alert"
        lines.append(f"| {fault} | {r['alert'] or '-'} | {mtta} | {'yes' if r['recovered'] else 'no'} |")
    lines += ["", f"SLO alerts that fired (breaches of the burn-rate budget): {len(result['slo_breaches'])}.", ""]
    for b in result["slo_breaches"]:
        lines.append(f"- {b['alert']} tenant={b['tenant'] or '-'} at {rel(b['t'])}")
    lines += ["", "## Timeline (UTC, T+ from the start of traffic)", ""]
    for e in sorted(timeline, key=lambda e: e["t"]):
        clock = time.strftime("%H:%M:%S", time.gmtime(e["t"]))
        lines.append(f"- {clock} {rel(e['t'])} {e['what']}")
    lines += [
        "",
        "## Impact per phase",
        "",
        "```json",
        json.dumps(result["phases"], indent=2),
        "```",
        "",
        "## What went well",
        "",
        "_…_",
        "",
        "## What went wrong",
        "",
        "_…_",
        "",
        "## Action items",
        "",
        "| Action | Owner | Due |",
        "|---|---|---|",
        "| _…_ | _…_ | _…_ |",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def gameday(baseline: float, flood: float, jitter: float, recovery: float, keep: bool) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="tf-gameday-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    pg = Cluster("pg", base, free_port())
    redis_port, web_port, prom_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[Any]] = []
    proxies: list[FaultProxy] = []
    load = watch = None
    timeline: list[dict[str, Any]] = []
    mark = lambda what: timeline.append({"t": time.time(), "what": what})  # noqa: E731
    try:
        pg.initdb()
        pg.configure({})
        pg.start()
        sql(pg.port, "CREATE DATABASE trustfabric")
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        pg_proxy = FaultProxy(pg.port, seed=1).start()
        redis_proxy = FaultProxy(redis_port, seed=2).start()
        proxies += [pg_proxy, redis_proxy]
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CACHE_URL", "DATABASE_URL")}
        env.update({"DATABASE_URL": pg.url(), "TF_REQUIRE_SERVICES": "0"})
        _manage("migrate", "--noinput", "-v0", env=env)
        _manage("seed_demo", env=env)
        tokens = json.loads(_manage("gameday_agent", "tokens", env=env).strip().splitlines()[-1])
        registry = base / "registry.json"
        _manage("gameday_agent", "registry", str(registry), env=env)

        web_env = {
            **env,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg_proxy.port}/trustfabric",
            "CACHE_URL": f"redis://127.0.0.1:{redis_proxy.port}/0",
            "PROMETHEUS_MULTIPROC_DIR": str(base / "prom-mp"),
            "TF_POLICY_REGISTRY_FILE": str(registry),
            "TF_API_TENANT_RATE": RATE,
            "GUNICORN_WORKERS": "2",
            "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        }
        procs.append(subprocess.Popen(
            [PY, "-m", "gunicorn", "-c", "ops/gunicorn.conf.py", "trustfabric.wsgi"],
            cwd=ROOT, env=web_env, stdout=subprocess.DEVNULL, stderr=(base / "gunicorn.log").open("w"),
        ))  # fmt: skip
        url = f"http://127.0.0.1:{web_port}"
        _wait_http(url + "/healthz")

        rules = (ROOT / "ops" / "prometheus" / "rules.yml").read_text().replace("interval: 1m", "interval: 5s")
        (base / "rules.yml").write_text(rules)
        (base / "prometheus.yml").write_text(
            "global: {scrape_interval: 2s, evaluation_interval: 5s}\n"
            f"rule_files: [{base / 'rules.yml'}]\n"
            "scrape_configs:\n"
            f"  - job_name: trustfabric\n    metrics_path: /metrics\n    static_configs: [{{targets: ['127.0.0.1:{web_port}']}}]\n"
        )
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=(base / "prometheus.log").open("w"),
        ))  # fmt: skip
        prom = f"http://127.0.0.1:{prom_port}"
        _wait_http(prom + "/-/ready")

        watch = AlertWatch(prom)
        watch.thread.start()
        load = Load(url, tokens)
        t0 = time.time()
        load.start()
        mark("traffic starts: 3 tenants at 3 req/s each")
        time.sleep(baseline)

        phases: dict[str, tuple[float, float]] = {"baseline": (t0, time.time())}
        starts: dict[str, float] = {}
        starts["flood"] = time.time()
        load.flooding.set()
        mark(f"fault: {FLOOD_TENANT} floods (6 concurrent clients, quota {RATE})")
        time.sleep(flood)
        load.flooding.clear()
        mark("fault cleared: flood stops")
        phases["flood"] = (starts["flood"], time.time())

        starts["jitter"] = time.time()
        pg_proxy.set_faults(delay_ms=(5, 80), loss=0.01)
        redis_proxy.set_faults(delay_ms=(2, 40), loss=0.01)
        mark("fault: jitter 5-80 ms and 1% loss app<->PostgreSQL, 2-40 ms and 1% loss app<->Redis")
        time.sleep(jitter)
        pg_proxy.clear()
        redis_proxy.clear()
        mark("fault cleared: network back to normal")
        phases["jitter"] = (starts["jitter"], time.time())

        starts["drift"] = time.time()
        _manage("gameday_agent", "hotfix", env=env)
        mark("fault: prod hotfix activates investigations v2 outside promotion (policy drift)")
        fired = None
        deadline = time.time() + 240
        while time.time() < deadline and fired is None:
            fired = watch.first(EXPECTED["drift"], "firing", starts["drift"])
            time.sleep(1)
        if fired:
            mark("on-call: TFPolicyDrift fired; reverting to the registry's version")
        _manage("gameday_agent", "revert", env=env)
        remediated = time.time()
        mark("remediation: investigations back to v1")
        resolved = None
        deadline = time.time() + 60
        while time.time() < deadline and resolved is None:
            e = watch.first(EXPECTED["drift"], "inactive", remediated)
            resolved = e["t"] if e else None
            time.sleep(1)
        phases["drift"] = (starts["drift"], time.time())

        rec_start = time.time()
        mark("recovery: all faults off")
        time.sleep(recovery)
        phases["recovery"] = (rec_start, time.time())
        load.finish()
        watch.stop.set()
        mark("traffic stops")

        summaries = {name: load.summary(a, b) for name, (a, b) in phases.items()}
        base_line = summaries["baseline"]
        faults: dict[str, Any] = {}
        for fault in ("flood", "jitter", "drift"):
            e = watch.first(EXPECTED[fault], "firing", starts[fault])
            rec = summaries["recovery"]
            recovered = all(
                (rec[t]["error_ratio"] or 0) <= max(0.01, (base_line[t]["error_ratio"] or 0))
                and (rec[t]["p95_ms"] or 0) <= max(250.0, 3 * (base_line[t]["p95_ms"] or 0))
                for t in rec
            )
            if fault == "drift":
                recovered = resolved is not None
            faults[fault] = {
                "alert": e["alert"] if e else None,
                "tenant": e["tenant"] if e else None,
                "mtta_s": round(e["t"] - starts[fault], 1) if e else None,
                "recovered": recovered,
            }
        faults["drift"]["remediated_s"] = round(remediated - starts["drift"], 1)
        faults["drift"]["resolved_s"] = round(resolved - starts["drift"], 1) if resolved else None
        breaches = [
            e for e in watch.events if e["to"] == "firing" and ("BudgetBurn" in e["alert"])
        ]  # error-budget alerts are the SLO breaches
        for e in watch.events:
            tenant = f" tenant={e['tenant']}" if e["tenant"] else ""
            timeline.append({"t": e["t"], "what": f"alert {e['alert']}{tenant}: {e['from']} -> {e['to']}"})
        fairness = _prom_max(prom, "max_over_time(tf_fairness_gini[30m])")
        mttas = [f["mtta_s"] for f in faults.values() if f["mtta_s"] is not None]
        result: dict[str, Any] = {
            "gameday": 2,
            "faults": faults,
            "mtta_s": {"max": max(mttas) if mttas else None, "aim_max": 600},
            "alerts_missing": [k for k, f in faults.items() if f["alert"] is None],
            "slo_breaches": breaches,
            "slo_breach_count": len(breaches),
            "fairness_gini_max": fairness,
            "proxy": {"postgres": vars(pg_proxy.stats), "redis": vars(redis_proxy.stats)},
            "phases": summaries,
        }
        result["postmortem"] = str(postmortem(result, timeline, t0).relative_to(ROOT))
        result["timeline"] = [
            {"t_s": round(e["t"] - t0, 1), "what": e["what"]} for e in sorted(timeline, key=lambda e: e["t"])
        ]
        return result
    finally:
        if load is not None:
            load.finish()
        if watch is not None:
            watch.stop.set()
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        for proxy in proxies:
            proxy.stop()
        pg.stop()
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def _prom_max(prom: str, query: str) -> float | None:
    try:
        q = urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(f"{prom}/api/v1/query?{q}", timeout=5) as resp:  # noqa: S310
            data = json.loads(resp.read())["data"]["result"]
        return round(float(data[0]["value"][1]), 4) if data else None
    except (OSError, ValueError, KeyError, IndexError):
        return None


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="Scripted on-call gameday against a local stack (JSON).")
    p.add_argument("--baseline", type=float, default=30)
    p.add_argument("--flood", type=float, default=150, help="seconds; TFTenantFlooding needs 2 min to fire")
    p.add_argument("--jitter", type=float, default=170, help="seconds; the fast burn alert needs 2 min")
    p.add_argument("--recovery", type=float, default=30)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    result = gameday(args.baseline, args.flood, args.jitter, args.recovery, args.keep)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
