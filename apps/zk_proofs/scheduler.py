"""Fair scheduling of ZK-TX verification work: deficit round robin across tenants, in Redis.

A job (one round-2 verification, costed in chunk proofs) goes to its tenant's list; the
tenant joins the ring of active tenants. For every job one ``zk.drain`` message goes to the
Celery ``zk`` queue, but the message carries no job: the worker that takes it pops the
*next job by DRR* — the tenant at the head of the ring earns ``TF_ZK_SCHED_QUANTUM`` chunk
proofs of credit per turn and is served while its credit covers its next job — so a
tenant's burst lengthens its own list, not anyone else's wait.

Crash-safe: a popped job is leased (a sorted set scored by expiry) and the worker renews the
lease while it runs; a lease that runs out (the worker was killed) puts the job back at the
head of its tenant's list and sends a new drain message. Idempotent: a job id is queued once
(submitting it again is a no-op), and a finished job is remembered for a day, so a job that
comes back after a slow worker finished it is dropped, not run twice.

Fairness (``window``): per 60 s window, each tenant's demand (its backlog at the window's
start plus what it submitted) and what was served, in chunk proofs; ``fairness.fair_gini``
compares served work with each tenant's max-min fair share of that window's service."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings

from apps.core import fairness

from . import quotas

log = logging.getLogger(__name__)
PREFIX = "tf:zks:"
WINDOW = 60
_KEEP = 3600  # window counters kept an hour (the operator page shows the last windows)

# Shared Lua: a window's start snapshot of every tenant's pending work, taken by the first
# event of the window (so a backlog that carries over counts as demand in the next window).
_SNAPSHOT = f"""
local KEEP = {_KEEP}
local function snapshot(p, w)
  local start = p .. 'start:' .. w
  if redis.call('EXISTS', start) == 0 then
    local pending = redis.call('HGETALL', p .. 'pending')
    redis.call('HSET', start, '_', '0')
    for i = 1, #pending, 2 do redis.call('HSET', start, pending[i], pending[i + 1]) end
    redis.call('EXPIRE', start, KEEP)
  end
end
local function count(p, kind, w, t, cost)
  redis.call('HINCRBYFLOAT', p .. kind .. ':' .. w, t, cost)
  redis.call('EXPIRE', p .. kind .. ':' .. w, KEEP)
end
local function activate(p, t)
  if redis.call('SADD', p .. 'active', t) == 1 then redis.call('RPUSH', p .. 'ring', t) end
end
"""

_SUBMIT = (
    _SNAPSHOT
    + """
local p, jid, t, cost, payload, w, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
snapshot(p, w)
if redis.call('EXISTS', p .. 'job:' .. jid) == 1 or redis.call('EXISTS', p .. 'done:' .. jid) == 1 then
  return 0
end
redis.call('HSET', p .. 'job:' .. jid, 'tenant', t, 'cost', cost, 'payload', payload, 'attempts', 0, 'at', now)
redis.call('RPUSH', p .. 'q:' .. t, jid)
activate(p, t)
redis.call('HINCRBYFLOAT', p .. 'pending', t, cost)
count(p, 'sub', w, t, cost)
return 1
"""
)

# Re-queue expired leases (at the head of their tenant's list), then pop by DRR.
_POP = (
    _SNAPSHOT
    + """
local p, now, lease, quantum, w = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
snapshot(p, w)
local requeued = 0
for _, jid in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now)) do
  redis.call('ZREM', p .. 'leases', jid)
  local t = redis.call('HGET', p .. 'job:' .. jid, 'tenant')
  if t then
    redis.call('LPUSH', p .. 'q:' .. t, jid)
    activate(p, t)
    requeued = requeued + 1
  end
end
for _ = 1, 10000 do
  local t = redis.call('LINDEX', p .. 'ring', 0)
  if not t then return {false, requeued} end
  local jid = redis.call('LINDEX', p .. 'q:' .. t, 0)
  if not jid then
    redis.call('LPOP', p .. 'ring')
    redis.call('SREM', p .. 'active', t)
    redis.call('HDEL', p .. 'deficit', t)
  else
    local job = redis.call('HMGET', p .. 'job:' .. jid, 'cost', 'payload', 'attempts')
    if not job[1] then
      redis.call('LPOP', p .. 'q:' .. t)  -- finished by a slow worker after its lease ran out
    else
      local cost = tonumber(job[1])
      local d = tonumber(redis.call('HGET', p .. 'deficit', t)) or 0
      if d >= cost then
        redis.call('LPOP', p .. 'q:' .. t)
        local attempts = redis.call('HINCRBY', p .. 'job:' .. jid, 'attempts', 1)
        redis.call('ZADD', p .. 'leases', now + lease, jid)
        if redis.call('LLEN', p .. 'q:' .. t) == 0 then
          redis.call('LPOP', p .. 'ring')
          redis.call('SREM', p .. 'active', t)
          redis.call('HDEL', p .. 'deficit', t)
        else
          redis.call('HSET', p .. 'deficit', t, tostring(d - cost))
        end
        return {jid, requeued, job[2], t, attempts}
      end
      redis.call('HSET', p .. 'deficit', t, tostring(d + quantum))
      redis.call('RPUSH', p .. 'ring', redis.call('LPOP', p .. 'ring'))
    end
  end
end
return {false, requeued}
"""
)

_ACK = (
    _SNAPSHOT
    + """
local p, jid, w, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
snapshot(p, w)
redis.call('ZREM', p .. 'leases', jid)
local job = redis.call('HMGET', p .. 'job:' .. jid, 'tenant', 'cost', 'at')
if not job[1] then return 0 end
-- time from submission to done, for back-pressure (admission.worker_latency)
redis.call('ZADD', p .. 'latency', now, string.format('%.6f', now - tonumber(job[3])) .. ' ' .. jid)
redis.call('ZREMRANGEBYRANK', p .. 'latency', 0, -501)
redis.call('HINCRBYFLOAT', p .. 'pending', job[1], -tonumber(job[2]))
count(p, 'srv', w, job[1], tonumber(job[2]))
redis.call('DEL', p .. 'job:' .. jid)
redis.call('SET', p .. 'done:' .. jid, '1', 'EX', 86400)
redis.call('RPUSH', p .. 'log', job[1] .. ' ' .. jid)
redis.call('LTRIM', p .. 'log', -1000, -1)
return 1
"""
)

# Extend a lease only while the job is still leased (not after it was re-queued).
_RENEW = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  return 1
end
return 0
"""

_clients: dict[str, tuple[Any, dict[str, Any]]] = {}


def _client() -> tuple[Any, dict[str, Any]] | None:
    """The broker's Redis (the scheduler is part of the queue), or ``None`` without one."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return None
    if url not in _clients:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        scripts = {n: client.register_script(s) for n, s in (("submit", _SUBMIT), ("pop", _POP), ("ack", _ACK))}
        scripts["renew"] = client.register_script(_RENEW)
        _clients[url] = (client, scripts)
    return _clients[url]


def enabled() -> bool:
    """Jobs go through the scheduler when a real worker serves the broker; eagerly run tasks
    (embedded profile, most tests) call the task directly."""
    from trustfabric.celery import app

    return not app.conf.task_always_eager and _client() is not None


def _window(now: float) -> str:
    return str(int(now // WINDOW))


def submit(tenant_id: int, task: str, args: list[Any], *, cost: float = 1.0, job_id: str | None = None) -> bool:
    """Queue one job for ``tenant_id`` and send a drain message; False if the job id was
    already queued or done (nothing sent)."""
    conn = _client()
    assert conn is not None, "submit needs the broker's Redis (enabled())"
    jid = job_id or f"{task}:{json.dumps(args, separators=(',', ':'))}"
    payload = json.dumps({"task": task, "args": args})
    now = quotas.clock()
    added = conn[1]["submit"](args=[PREFIX, jid, str(tenant_id), repr(float(cost)), payload, _window(now), repr(now)])
    if added:
        _kick(1)
    return bool(added)


def _kick(n: int) -> None:
    from .tasks import drain

    for _ in range(n):
        drain.delay()


def pop() -> tuple[str, dict[str, Any], int, int] | None:
    """The next job by DRR, leased for ``TF_ZK_SCHED_LEASE_SECONDS``; expired leases are
    re-queued first (and get their drain messages)."""
    conn = _client()
    if conn is None:
        return None
    now = quotas.clock()
    args = [PREFIX, repr(now), repr(float(settings.ZK_SCHED_LEASE_SECONDS)), repr(float(settings.ZK_SCHED_QUANTUM))]
    out = conn[1]["pop"](args=[*args, _window(now)])
    jid, requeued = out[0], int(out[1])
    if requeued:
        _kick(requeued)
    if not jid:
        return None
    return jid, json.loads(out[2]), int(out[3]), int(out[4])


def ack(job_id: str) -> bool:
    conn = _client()
    if conn is None:
        return False
    now = quotas.clock()
    return bool(conn[1]["ack"](args=[PREFIX, job_id, _window(now), repr(now)]))


def renew(job_id: str) -> bool:
    conn = _client()
    if conn is None:
        return False
    expiry = quotas.clock() + settings.ZK_SCHED_LEASE_SECONDS
    return bool(conn[1]["renew"](keys=[PREFIX + "leases"], args=[job_id, repr(expiry)]))


class _Heartbeat:
    """Renews a job's lease every third of the lease while the job runs in this process."""

    def __init__(self, job_id: str) -> None:
        self.job_id, self.stop = job_id, threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"zk-lease-{uuid.uuid4().hex[:6]}", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(max(0.5, settings.ZK_SCHED_LEASE_SECONDS / 3)):
            renew(self.job_id)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()


def run_next(handlers: dict[str, Callable[..., Any]]) -> str | None:
    """Pop the next job, run its handler with the lease renewed, acknowledge it. An exception
    leaves the job leased: it comes back when the lease runs out (like a killed worker)."""
    job = pop()
    if job is None:
        return None
    jid, payload, _tenant, attempts = job
    handler = handlers.get(payload["task"])
    if handler is None or attempts > settings.ZK_SCHED_MAX_ATTEMPTS:
        # a job nothing can run (an old deploy's kind), or one that killed its worker every
        # time: dropped (logged), so it cannot loop forever
        log.warning("zk scheduler: job dropped", extra={"task": payload["task"], "attempts": attempts})
        ack(jid)
        return None
    with _Heartbeat(jid):
        handler(*payload["args"])
    ack(jid)
    return jid


# --- What the operator page and the load generator read ------------------------------------


def depths() -> dict[int, dict[str, float]]:
    """Per tenant: queued jobs and pending chunk proofs (queued + running)."""
    conn = _client()
    if conn is None:
        return {}
    r = conn[0]
    pending = {int(t): float(v) for t, v in r.hgetall(PREFIX + "pending").items()}
    out = {}
    for t, v in pending.items():
        queued = int(r.llen(f"{PREFIX}q:{t}"))
        if v > 0 or queued:
            out[t] = {"queued_jobs": queued, "pending_proofs": max(0.0, v)}
    return out


def leased() -> int:
    conn = _client()
    return int(conn[0].zcard(PREFIX + "leases")) if conn is not None else 0


def window(index: int) -> dict[str, Any]:
    """One 60 s window: per tenant demand and served (chunk proofs), and the Gini of served
    against each tenant's max-min fair share of the window's service."""
    conn = _client()
    if conn is None:
        return {"window": index, "tenants": {}, "gini": 0.0, "active": 0}
    r = conn[0]
    start = {t: float(v) for t, v in r.hgetall(f"{PREFIX}start:{index}").items() if t != "_"}
    sub = {t: float(v) for t, v in r.hgetall(f"{PREFIX}sub:{index}").items()}
    srv = {t: float(v) for t, v in r.hgetall(f"{PREFIX}srv:{index}").items()}
    demand = {t: max(0.0, start.get(t, 0.0)) + sub.get(t, 0.0) for t in set(start) | set(sub) | set(srv)}
    demand = {t: d for t, d in demand.items() if d > 0}
    gini, active = fairness.fair_gini(demand, srv)
    tenants = {int(t): {"demand": demand.get(t, 0.0), "served": srv.get(t, 0.0)} for t in set(demand) | set(srv)}
    return {"window": index, "tenants": tenants, "gini": round(gini, 4), "active": active}


def latencies(since: float) -> list[float]:
    """Submission-to-done seconds of the jobs finished since ``since`` (last 500 at most)."""
    conn = _client()
    if conn is None:
        return []
    return [float(m.split(" ", 1)[0]) for m in conn[0].zrangebyscore(PREFIX + "latency", since, "+inf")]


def recent_windows(n: int = 5) -> list[dict[str, Any]]:
    """The last ``n`` complete windows and the current one, newest first."""
    now = int(quotas.clock() // WINDOW)
    return [window(now - i) for i in range(n + 1)]


def completion_log() -> list[tuple[int, str]]:
    """The last 1,000 finished jobs in finishing order: (tenant id, job id)."""
    conn = _client()
    if conn is None:
        return []
    return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in conn[0].lrange(PREFIX + "log", 0, -1)]


def reset() -> None:
    """Delete every scheduler key (tests and the load generator's private Redis)."""
    conn = _client()
    if conn is None:
        return
    keys = list(conn[0].scan_iter(PREFIX + "*", count=1000))
    for i in range(0, len(keys), 500):
        conn[0].delete(*keys[i : i + 500])


def chunk_cost(part: Any) -> float:
    """A round 2's cost in the scheduler: its chunk proofs (at least 1)."""
    return float(max(1, len((part.round2 or {}).get("proofs") or [])))
