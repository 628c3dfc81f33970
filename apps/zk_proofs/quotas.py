"""ZK-TX quotas: token buckets per tenant and per partner pair, in Redis.

One Lua script refills and checks every bucket a request needs and takes from all of them
or from none, atomically, so concurrent web processes share one budget. Daily quotas refill
continuously (capacity / 86,400 per second), which smooths a burst over the day instead of
resetting at midnight. Without a Redis cache (embedded profile) the same arithmetic runs in
process memory. See docs/zk-tx.md, "Quotas and shaping"."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from apps.core.errors import DomainError
from apps.core.ids import is_uuid
from apps.core.memo import Found

DAY = 86_400.0
clock: Callable[[], float] = time.time  # the test clock replaces this

_LUA = """
local now = tonumber(ARGV[1])
local refused, wait = 0, 0
local tokens = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[3 * i - 1])
  local cap = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local v = redis.call('HMGET', KEYS[i], 't', 'ts')
  local t = tonumber(v[1]) or cap
  local ts = tonumber(v[2]) or now
  if now > ts then t = math.min(cap, t + (now - ts) * rate) end
  tokens[i] = t
  if refused == 0 and t < cost then
    refused = i
    wait = (cost - t) / rate
  end
end
if refused > 0 then return {refused, tostring(wait)} end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[3 * i - 1])
  local cap = tonumber(ARGV[3 * i])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i] - tonumber(ARGV[3 * i + 1])), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(cap / rate * 1000) + 1000)
end
return {0, '0'}
"""


@dataclass(frozen=True)
class Bucket:
    """``name`` is what the 429 reports; ``key`` identifies whose bucket it is."""

    name: str
    key: str
    rate: float  # tokens per second
    capacity: float
    cost: float = 1.0


class QuotaExceeded(DomainError):
    status = 429
    code = "quota_exceeded"

    def __init__(self, quota: str, retry_after: int) -> None:
        super().__init__(
            f"Quota {quota} is used up; retry in {retry_after} s.",
            details={"quota": quota, "retry_after_seconds": retry_after},
        )
        self.quota = quota
        self.retry_after = retry_after


_local: dict[str, tuple[float, float]] = {}
_local_lock = threading.Lock()
_clients: dict[str, tuple[Any, Any]] = {}


def _redis_client() -> Any:
    """The cache's Redis, or ``None`` when the cache is not Redis."""
    location = settings.CACHES["default"].get("LOCATION")
    backend = settings.CACHES["default"].get("BACKEND", "")
    if "redis" not in backend.lower() or not location:
        return None
    url = location if isinstance(location, str) else location[0]
    if url not in _clients:  # one client per URL (settings can change, e.g. in tests)
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2)
        _clients[url] = (client, client.register_script(_LUA))
    return _clients[url][0]


def _take_local(buckets: list[Bucket], now: float) -> tuple[int, float]:
    with _local_lock:
        levels = []
        for i, b in enumerate(buckets, start=1):
            t, ts = _local.get(b.key, (b.capacity, now))
            t = min(b.capacity, t + max(0.0, now - ts) * b.rate)
            if t < b.cost:
                return i, (b.cost - t) / b.rate
            levels.append(t)
        for b, t in zip(buckets, levels, strict=True):
            _local[b.key] = (t - b.cost, now)
    return 0, 0.0


def take(buckets: list[Bucket]) -> None:
    """Take ``cost`` tokens from every bucket, or raise ``QuotaExceeded`` naming the first
    bucket that is short (nothing is taken then). A cost above a bucket's capacity is clamped
    to it, so a large upload waits for a full bucket instead of never passing."""
    buckets = [Bucket(b.name, b.key, b.rate, b.capacity, min(b.cost, b.capacity)) for b in buckets if b.rate > 0]
    if not buckets:
        return
    now = clock()
    client = _redis_client()
    if client is None:
        refused, wait = _take_local(buckets, now)
    else:
        args: list[Any] = [repr(now)]
        for b in buckets:
            args += [repr(b.rate), repr(b.capacity), repr(b.cost)]
        script = next(sc for c, sc in _clients.values() if c is client)
        refused_raw, wait_raw = script(keys=[f"tf:zkq:{b.key}" for b in buckets], args=args)
        refused, wait = int(refused_raw), float(wait_raw)
    if refused:
        raise _refused(buckets[refused - 1].name, max(1, math.ceil(wait)))


def _refused(quota: str, retry_after: int) -> QuotaExceeded:
    """Audit the refusal at most once a minute per tenant and quota (a flood must not flood
    the audit chain): the quota's name and the retry time, never a body or a selector."""
    from apps.core.services import audit_record
    from apps.core.tenancy import require_current_tenant

    from .admission import record_refusal

    tenant = require_current_tenant()
    record_refusal(tenant.pk, f"quota_exceeded:{quota}")
    if cache.add(f"zkq-audited:{tenant.pk}:{quota}", 1, timeout=60):
        with transaction.atomic():
            audit_record("zk.quota_exceeded", payload={"quota": quota, "retry_after_seconds": retry_after})
    return QuotaExceeded(quota, retry_after)


def per_second(name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> Bucket:
    return Bucket(name, key, float(rate), float(max(burst, rate, 1)), cost)


def per_day(name: str, key: str, per_day_limit: float, cost: float = 1.0) -> Bucket:
    return (
        Bucket(name, key, per_day_limit / DAY, float(per_day_limit), cost)
        if per_day_limit
        else Bucket(name, key, 0, 0, cost)
    )


def pair_key(a: Any, b: Any) -> str:
    low, high = sorted([a.pk, b.pk])
    return f"{low}-{high}"


# --- The API side: which buckets a ZK-TX request takes from ------------------------------

_settings_cache: dict[int, tuple[float, Any]] = {}
SETTINGS_TTL = 5.0  # seconds a web process reuses a tenant's pilot settings for its quotas


def pilot_of(tenant_id: int) -> Any:
    from .models import PilotSettings

    now = time.monotonic()
    hit = _settings_cache.get(tenant_id)
    if hit is None or now - hit[0] > SETTINGS_TTL:
        hit = (now, PilotSettings.all_tenants.filter(tenant_id=tenant_id).first())
        _settings_cache[tenant_id] = hit
    return hit[1]


_partners: Found[tuple[int, str], int] = Found(None, 50_000)


def partner_of(tenant_id: int, session_id: str) -> int | None:
    """The other party of a session ``tenant_id`` is a party to, or ``None``. A session's two
    parties are fixed when it is proposed, so a found answer is kept for the process's life
    (bounded; a miss, e.g. a stranger's probe, is never kept)."""
    from .models import Participation

    def fetch(key: tuple[int, str]) -> int | None:
        party, sid = key
        if not is_uuid(sid):
            return None
        others = Participation.all_tenants.filter(session__public_id=sid, session__participations__tenant_id=party)
        return others.exclude(tenant_id=party).values_list("tenant_id", flat=True).first()

    return _partners.one((tenant_id, session_id), fetch)


def forget_process_caches() -> None:
    """Drop this process's pilot settings, session parties and in-process buckets (tests; a
    settings change that must apply at once)."""
    _settings_cache.clear()
    _partners.clear()
    with _local_lock:
        _local.clear()  # the in-process buckets (no Redis): tenant ids repeat across tests on SQLite


def request_buckets(tenant: Any, session_id: str | None, proofs: float = 0) -> list[Bucket]:
    """The tenant's request bucket, the pair's when the request names a session the tenant is
    a party to (a non-party cannot drain a pair's budget), and the proofs bucket."""
    mine = pilot_of(tenant.pk)
    if mine is None:
        return []
    out = [per_second("tenant.requests_per_second", f"t{tenant.pk}:rps", mine.requests_per_second, mine.requests_burst)]
    if session_id:
        partner_id = partner_of(tenant.pk, session_id)
        theirs = pilot_of(partner_id) if partner_id else None
        if theirs is not None:
            rate = min(mine.pair_requests_per_second, theirs.pair_requests_per_second)
            low, high = sorted([tenant.pk, partner_id])
            out.append(per_second("pair.requests_per_second", f"p{low}-{high}:rps", rate, 2 * rate))
    if proofs:
        out.append(per_day("tenant.proofs_per_day", f"t{tenant.pk}:proofs", mine.proofs_per_day, proofs))
    return out


def limited(proofs: Callable[[Any], float] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ZK-TX API handler: take from the request's buckets before it runs.
    ``proofs(request)`` is how many proofs the request asks the server to verify."""
    import functools

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def inner(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            session_id = kwargs.get("session_id")
            try:
                cost = proofs(request) if proofs else 0  # reads the body
            except Exception:
                take(request_buckets(request.tenant, session_id))  # a body refused still pays its request
                raise
            take(request_buckets(request.tenant, session_id, cost))
            return handler(view, request, *args, **kwargs)

        inner.tf_limited = True  # type: ignore[attr-defined]  # PilotShapedThrottle relies on it
        return inner

    return wrap


def round2_proofs(request: Any) -> float:
    data = request.data if isinstance(request.data, dict) else {}
    return float(len(data.get("proofs") or [])) if isinstance(data.get("proofs"), list) else 0.0


def l1_bundles(request: Any) -> float:
    data = request.data if isinstance(request.data, dict) else {}
    if data.get("level", "L1") != "L1" or not isinstance(data.get("bundles"), list):
        return 0.0
    return float(len(data["bundles"]))
