"""The ZK-TX load generator: the documented request mix over HTTP, as a separate process.

``python -m apps.zk_proofs.loadgen PLAN.json OUT.json`` (started by ``manage.py bench_load``).
No Django here: an asyncio loop with keep-alive HTTP/1.1 connections (stdlib streams; a
small parser, so the generator costs little CPU and needs no extra package) sends requests
open-loop at the plan's rate — each tenant's share by its weight, the flooding tenant at
10× — and checks every answer: L0/L1 checks must say ``valid``, polls must show the verdict
the session got, downloads must be the bytes first downloaded. Full sessions (the 1 % of
uploads) run in threads with the shipped client; each one's verdict and count are checked
against the sets built for it. Latency is measured from the *scheduled* send time, so a
backed-up generator or server shows up in the percentiles (no coordinated omission).
Its own CPU time is reported so the run shows what the generator took from the server."""

# ruff: noqa: S311 - random picks the load mix and test sets, never a key or a nonce
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from apps.core import fairness

from . import client

# Per 100 requests (docs/zk-tx.md, "Pilot load: the request mix"); uploads run as whole sessions.
MIX = (
    ("l0_batch", 35),
    ("l1_one", 10),
    ("l1_batch", 5),
    ("poll", 30),
    ("bundle", 8),
    ("list", 5),
    ("trust", 4),
    ("propose", 2),
)
UPLOADS_SHARE = 0.01
REQUESTS_PER_SESSION = 8  # key, round 1, round 2, countersignature, for each side
SESSIONS_IN_FLIGHT = 4  # client threads; more would take the server's CPU on this machine
SLO_SECONDS = 0.5
REQUEST_TIMEOUT = 30.0  # served = answered without 5xx within this (TF_FAIRNESS_LATENCY_SECONDS)


@dataclass
class Tenant:
    slug: str
    token: str
    weight: float
    partner: str
    key_pem: str
    bundles: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # id, state, sha256

    def key(self) -> Any:
        return serialization.load_pem_private_key(self.key_pem.encode(), password=None)


# --- HTTP/1.1 over asyncio streams -----------------------------------------------------------


class Http:
    """Keep-alive connections to one host, at most ``size`` at once per tenant."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = size
        self.idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.limits: dict[str, asyncio.Semaphore] = {}

    async def request(self, tenant: Tenant, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        limit = self.limits.setdefault(tenant.slug, asyncio.Semaphore(self.size))
        async with limit:
            pool = self.idle.setdefault(tenant.slug, [])
            reused = bool(pool)
            conn = pool.pop() if reused else await asyncio.open_connection(self.host, self.port)
            try:
                status, data, keep = await self._exchange(conn, tenant.token, method, path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                conn[1].close()
                if not reused:
                    raise
                # the server closed an idle keep-alive connection: once more on a fresh one
                conn = await asyncio.open_connection(self.host, self.port)
                try:
                    status, data, keep = await self._exchange(conn, tenant.token, method, path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    conn[1].close()
                    raise
            if keep:
                pool.append(conn)
            else:
                conn[1].close()
            return status, data

    async def _exchange(self, conn: Any, token: str, method: str, path: str, body: Any) -> tuple[int, bytes, bool]:
        reader, writer = conn
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ValueError("connection closed")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
                data += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        else:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, data, headers.get("connection", "").lower() != "close"


# --- One run ---------------------------------------------------------------------------------


@dataclass
class Record:
    t: float  # seconds since the start, when the answer came
    tenant: str
    kind: str
    status: int
    latency: float
    ok: bool  # the answer is what this request must get (2xx with the right verdict)
    shaped: bool  # a 429 (quota or back-pressure): the shaping working, not an error


def _expect(kind: str, status: int, data: bytes, tenant: Tenant, ctx: dict[str, Any]) -> bool:
    if status >= 300:
        return False
    if kind in ("l0_batch", "l1_one", "l1_batch"):
        body = json.loads(data)
        return body.get("valid") is True and body.get("count") == ctx["n"]
    if kind == "poll":
        body = json.loads(data)
        return body.get("status") == "done" and body.get("verdict") == ctx["state"].get("verdict")
    if kind == "bundle":
        return hashlib.sha256(data).hexdigest() == ctx["sha"]
    return True


def _request_for(kind: str, tenant: Tenant, rng: random.Random) -> tuple[str, str, Any, dict[str, Any]]:
    base = "/api/zk/"
    if kind in ("l0_batch", "l1_one", "l1_batch"):
        n = 1 if kind == "l1_one" else 10
        bundles = [rng.choice(tenant.bundles) for _ in range(n)]
        level = "L0" if kind == "l0_batch" else "L1"
        return "POST", base + "verify/", {"bundles": bundles, "level": level}, {"n": n}
    sid, state, sha = rng.choice(tenant.sessions)
    if kind == "poll":
        return "GET", f"{base}sessions/{sid}/", None, {"state": state}
    if kind == "bundle":
        return "GET", f"{base}sessions/{sid}/bundle/", None, {"sha": sha}
    if kind == "list":
        return "GET", base + "sessions/", None, {}
    if kind == "trust":
        return "GET", base + "trust/", None, {}
    body = {"partner": tenant.partner, "k": 10, "disclosure": "verdict", "selector_type": "phone"}
    return "POST", base + "sessions/", body, {}


def session_sets(rng: random.Random, n: int = 100, shared: int | None = None) -> tuple[list[str], list[str], int]:
    shared = rng.randint(0, 20) if shared is None else shared
    pool = rng.sample(range(10**8), 2 * n)
    common = [f"+4477{v:08d}" for v in pool[:shared]]
    a = common + [f"+4477{v:08d}" for v in pool[shared:n]]
    b = common + [f"+4477{v:08d}" for v in pool[n : 2 * n - shared]]
    return a, b, shared


def drive_session(url: str, a: Tenant, b: Tenant, rng: random.Random, k: int = 10) -> dict[str, Any]:
    """One whole session between ``a`` and ``b`` with the shipped client; checks the verdict."""
    set_a, set_b, shared = session_sets(rng)
    api_a, api_b = client.Api(url, a.token), client.Api(url, b.token)
    body = {"partner": b.slug, "k": k, "disclosure": "verdict_and_count", "selector_type": "phone"}
    sid = api_a.call("POST", "", body)["session"]
    out: dict[str, Any] = {}

    def side(name: str, api: client.Api, me: Tenant, values: list[str]) -> None:
        try:
            out[name] = client.run(api, sid, me.slug, values, me.key(), min_size=128, wait=180, poll=0.2)
        except Exception as exc:  # noqa: BLE001 - reported per session
            out[name] = exc

    threads = [
        threading.Thread(target=side, args=("a", api_a, a, set_a)),
        threading.Thread(target=side, args=("b", api_b, b, set_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [str(v)[:200] for v in out.values() if isinstance(v, Exception)]
    if errors:
        return {"session": sid, "ok": False, "error": errors[0]}
    state = out["a"]["state"]
    verdict = state.get("verdict") or {}
    ok = verdict.get("overlap_at_most_k") == (shared <= k) and verdict.get("count") == shared
    ok = ok and state["bundle_digest"] == out["b"]["state"]["bundle_digest"]  # one bundle for both
    return {"session": sid, "ok": ok, "state": state, "bundle": out["a"]["bundle"], "raw": out["a"]["bundle_bytes"]}


def warm_up(plan: dict[str, Any], tenants: list[Tenant]) -> None:
    """Done sessions for every tenant (its polls, downloads and bundle checks need some)."""
    rng = random.Random(plan.get("seed", 7))
    by_slug = {t.slug: t for t in tenants}
    pairs = [(t, by_slug[t.partner]) for t in tenants if t.slug < t.partner]
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(drive_session, plan["url"], a, b, random.Random(rng.random())) for a, b in pairs * 2]
        results = [(pair, j.result()) for pair, j in zip(pairs * 2, jobs, strict=True)]
    for (a, b), r in results:
        if not r["ok"]:
            raise SystemExit(f"warm-up session failed: {r.get('error') or r.get('state')}")
        sha = hashlib.sha256(r["raw"]).hexdigest()
        for t in (a, b):
            t.bundles.append(r["bundle"])
            t.sessions.append((r["session"], r["state"], sha))


async def _one(http: Http, tenant: Tenant, kind: str, rng: random.Random, t0: float, due: float, out: list) -> None:
    method, path, body, ctx = _request_for(kind, tenant, rng)
    await asyncio.sleep(max(0.0, due - time.monotonic()))
    try:
        status, data = await asyncio.wait_for(http.request(tenant, method, path, body), REQUEST_TIMEOUT)
        ok = _expect(kind, status, data, tenant, ctx)
    except (OSError, asyncio.IncompleteReadError, ValueError, json.JSONDecodeError, TimeoutError):
        status, ok = 0, False  # no answer (or none in time): an error, never silently dropped
    done = time.monotonic()
    out.append(Record(done - t0, tenant.slug, kind, status, done - due, ok, status == 429))


async def _run(plan: dict[str, Any], tenants: list[Tenant], records: list[Record], sessions: list[dict]) -> None:
    rate, duration = float(plan["rate"]), float(plan["duration"])
    http = Http(plan["url"], int(plan.get("connections", 16)))
    rng = random.Random(plan.get("seed", 7))
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    total_w = sum(t.weight for t in tenants)
    t0 = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    # sessions at the uploads' share of the rate, in threads (client crypto is CPU work)
    session_rate = rate * UPLOADS_SHARE / REQUESTS_PER_SESSION
    by_slug = {t.slug: t for t in tenants}
    pool = ThreadPoolExecutor(max_workers=4)
    loop = asyncio.get_running_loop()
    session_futs = []
    # the first session early enough that even a short run drives one
    next_session = t0 + (min(1 / session_rate, duration / 3) if session_rate > 0 else duration + 1)
    due, scheduled, skipped_sessions, last_report = t0, 0, 0, t0
    while due < t0 + duration:
        scheduled += 1
        due += rng.expovariate(rate)
        tenant = rng.choices(tenants, weights=[t.weight / total_w for t in tenants])[0]
        kind = rng.choices(kinds, weights=weights)[0]
        task = asyncio.create_task(_one(http, tenant, kind, random.Random(rng.random()), t0, due, records))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if due >= next_session:
            next_session += 1 / session_rate
            if sum(1 for _, f in session_futs if not f.done()) >= SESSIONS_IN_FLIGHT:
                skipped_sessions += 1  # the client side is saturated: not a server loss
            else:
                a = tenants[0]  # the pair that runs sessions is never the flooding one
                fut = loop.run_in_executor(pool, drive_session, plan["url"], a, by_slug[a.partner], random.Random(due))
                session_futs.append((due - t0, fut))
        if due - last_report >= 10:
            last_report = due
            sys.stderr.write(
                f"loadgen t={due - t0:.0f}s sent={scheduled} answered={len(records)} in_flight={len(pending)}\n"
            )
        if len(pending) > 2000:  # far behind: wait instead of piling up tasks (latency shows it)
            await asyncio.sleep(0.01)
        elif due - time.monotonic() > 0.05:
            await asyncio.sleep(due - time.monotonic() - 0.02)
    await asyncio.gather(*pending, return_exceptions=True)
    deadline = time.monotonic() + float(plan.get("session_grace", 200))
    for started, fut in session_futs:
        try:
            r = await asyncio.wait_for(fut, timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            r = {"ok": False, "error": "not done within the grace period"}
        except Exception as exc:  # noqa: BLE001
            r = {"ok": False, "error": str(exc)[:200]}
        sessions.append({"started": round(started, 2), **{k: v for k, v in r.items() if k not in ("bundle", "raw")}})
    pool.shutdown(wait=False)
    plan["scheduled"], plan["sessions_skipped"] = scheduled, skipped_sessions


def percentiles(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    if not s:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}

    def at(q: float) -> float:
        return round(1000 * s[min(len(s) - 1, int(q * len(s)))], 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def summarise(records: list[Record], tenants: list[Tenant], duration: float, window: float) -> dict[str, Any]:
    """Totals and per-window figures. Demand of a tenant = its requests not refused by the
    shaping (429); served = those answered right within SLO_SECONDS. Gini across tenants."""
    out: dict[str, Any] = {"requests": len(records), **percentiles([r.latency for r in records])}
    errors = [r for r in records if not r.ok and not r.shaped]
    out["offered_rps"] = round(len(records) / duration, 1)
    out["achieved_rps"] = round(sum(1 for r in records if r.ok) / duration, 1)  # answered right
    out["error_rate"] = round(len(errors) / max(1, len(records)), 5)
    out["errors_by_status"] = _count(str(r.status) for r in errors)
    out["shaped_429"] = sum(1 for r in records if r.shaped)
    per: dict[str, Any] = {}
    for t in tenants:
        mine = [r for r in records if r.tenant == t.slug]
        demand = [r for r in mine if not r.shaped]
        served = [r for r in demand if r.ok and r.latency <= SLO_SECONDS]
        per[t.slug] = {
            "weight": t.weight,
            "sent": len(mine),
            "shaped_429": len(mine) - len(demand),
            "demanded": len(demand),
            "served": len(served),
            "served_share_of_demand": round(len(served) / max(1, len(demand)), 4),
        }
    out["tenants"] = per
    windows = []
    for i in range(max(1, int(duration // window))):
        lo, hi = i * window, (i + 1) * window
        rs = [r for r in records if lo <= r.t < hi]
        demand = {t.slug: float(sum(1 for r in rs if r.tenant == t.slug and not r.shaped)) for t in tenants}
        served = {
            t.slug: float(sum(1 for r in rs if r.tenant == t.slug and r.ok and r.latency <= SLO_SECONDS))
            for t in tenants
        }
        ratios = fairness.service_ratios(demand, served)
        windows.append(
            {
                "start_s": lo,
                "rps": round(sum(1 for r in rs if r.ok) / window, 1),
                **percentiles([r.latency for r in rs]),
                "errors": sum(1 for r in rs if not r.ok and not r.shaped),
                "gini": round(fairness.gini(list(ratios.values())), 4),
            }
        )
    out["windows"] = windows
    out["gini_max"] = max(w["gini"] for w in windows)
    return out


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return counts


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[0]).read_text())
    tenants = [Tenant(**t) for t in plan["tenants"]]
    warm_up(plan, tenants)
    sys.stderr.write("loadgen: warm-up sessions done\n")
    sys.stdout.write("ready\n")  # the command starts its CPU snapshot (and chaos clock) here
    sys.stdout.flush()
    sys.stdin.readline()  # "go": the command has set the run's quotas
    records: list[Record] = []
    sessions: list[dict[str, Any]] = []
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    asyncio.run(_run(plan, tenants, records, sessions))
    cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    result = summarise(records, tenants, float(plan["duration"]), float(plan.get("window", 60)))
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    result["generator_cpu_seconds"] = round(cpu, 2)
    result["generator_cpu_share_of_2_cores"] = round(cpu / (wall1 - wall0) / 2, 4)
    result["wall_seconds"] = round(wall1 - wall0, 2)
    result["sessions"] = sessions
    result["record_kinds"] = _count(r.kind for r in records)
    # every request sent got exactly one answer (or one counted failure): nothing lost
    result["requests_scheduled"] = plan["scheduled"]
    result["sessions_skipped_client_saturated"] = plan["sessions_skipped"]
    result["requests_unanswered"] = plan["scheduled"] - len(records)
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
