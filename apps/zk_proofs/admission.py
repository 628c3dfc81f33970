"""Admission for ZK-TX work that costs the workers: back-pressure and a circuit breaker.

New sessions and fresh verifications (round-2 uploads, which queue O(n) DLEQ work) are
admitted only while the ``zk`` queue is shorter than ``ZK_ADMISSION_MAX_QUEUE`` (else 429
``backpressure``) and the breaker is closed (else 503 ``breaker_open``). The breaker opens
after ``ZK_BREAKER_FAILURES`` worker failures within ``ZK_BREAKER_WINDOW_SECONDS``; after
``ZK_BREAKER_COOLDOWN_SECONDS`` it lets one probe request through (half-open) and closes
when a verification task succeeds. A second back-pressure signal is worker latency: when the
p95 of submission-to-verified time over the last minute (the fair scheduler's record, at
least 5 jobs) exceeds ``ZK_ADMISSION_MAX_LATENCY_SECONDS``, new work gets 429 ``backpressure``
too. L0 checks, polls and downloads are never gated. State is in the cache Redis, so every
web process and worker sees the same breaker; refusals are counted per minute, tenant and
code for the operator page (``/ops/zk/``)."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings

from apps.core.errors import DomainError

from . import quotas, scheduler

QUEUE = "zk"
_REFUSALS = "tf:zkb:refusals:"
_OPENED, _FAILS, _PROBE = "tf:zkb:opened_at", "tf:zkb:failures", "tf:zkb:probe"


class Refused(DomainError):
    def __init__(self, status: int, code: str, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, code=code, details={"retry_after_seconds": retry_after, **details})
        self.status = status
        self.retry_after = retry_after


def _redis() -> Any:
    return quotas._redis_client()


def _broker_depth() -> int | None:
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL.startswith("redis://"):
        return None
    import redis

    url = settings.CELERY_BROKER_URL
    if url not in _broker:  # one client per URL (settings can change, e.g. in tests)
        _broker[url] = redis.Redis.from_url(url, socket_timeout=1)
    try:
        return int(_broker[url].llen(QUEUE))
    except redis.RedisError:
        return None


_broker: dict[str, Any] = {}


def record_failure() -> None:
    """A verification task failed (an exception, not a proof that does not verify)."""
    r = _redis()
    if r is None:
        return
    now = quotas.clock()
    window = settings.ZK_BREAKER_WINDOW_SECONDS
    pipe = r.pipeline()
    pipe.zadd(_FAILS, {f"{now!r}:{uuid.uuid4().hex}": now})  # one member per failure
    pipe.zremrangebyscore(_FAILS, 0, now - window)
    pipe.zcard(_FAILS)
    pipe.expire(_FAILS, int(window) + 1)
    count = pipe.execute()[2]
    if r.get(_OPENED) is not None or count >= settings.ZK_BREAKER_FAILURES:
        r.set(_OPENED, repr(now))  # opens, or re-opens after a failed probe
        r.delete(_PROBE)


def record_success() -> None:
    r = _redis()
    if r is not None and r.get(_OPENED) is not None:
        r.delete(_OPENED, _FAILS, _PROBE)


def worker_latency_p95(now: float | None = None) -> float | None:
    """p95 of submission-to-verified seconds over the last minute; None with < 5 jobs."""
    now = quotas.clock() if now is None else now
    xs = sorted(scheduler.latencies(now - 60))
    if len(xs) < 5:
        return None
    return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]


def record_refusal(tenant_id: int | None, code: str) -> None:
    """Count one refusal (admission or quota) for the operator page, per minute."""
    r = _redis()
    if r is None or tenant_id is None:
        return
    key = f"{_REFUSALS}{int(quotas.clock() // 60)}"
    pipe = r.pipeline()
    pipe.hincrby(key, f"{tenant_id}|{code}", 1)
    pipe.expire(key, 3600)
    pipe.execute()


def refusals(minutes: int = 15) -> dict[int, dict[str, int]]:
    """Per tenant and code, refusals over the last ``minutes``."""
    r = _redis()
    out: dict[int, dict[str, int]] = {}
    if r is None:
        return out
    now = int(quotas.clock() // 60)
    for m in range(now - minutes + 1, now + 1):
        for field, n in r.hgetall(f"{_REFUSALS}{m}").items():
            tenant, code = (field.decode() if isinstance(field, bytes) else field).split("|", 1)
            per = out.setdefault(int(tenant), {})
            per[code] = per.get(code, 0) + int(n)
    return out


def state() -> dict[str, Any]:
    """For /readyz and the operator: breaker state, queue depth and the thresholds."""
    r = _redis()
    opened = r.get(_OPENED) if r is not None else None
    breaker = "closed"
    if opened is not None:
        cooled = quotas.clock() - float(opened) >= settings.ZK_BREAKER_COOLDOWN_SECONDS
        breaker = "half_open" if cooled else "open"
    return {
        "breaker": breaker,
        "recent_failures": int(r.zcard(_FAILS)) if r is not None else 0,
        "queue_depth": _broker_depth(),
        "max_queue": settings.ZK_ADMISSION_MAX_QUEUE,
        "latency_p95_seconds": worker_latency_p95(),
        "max_latency_seconds": settings.ZK_ADMISSION_MAX_LATENCY_SECONDS,
    }


def admit() -> None:
    """Raise ``Refused`` unless new worker work may be accepted now."""
    r = _redis()
    if r is not None:
        opened = r.get(_OPENED)
        if opened is not None:
            left = settings.ZK_BREAKER_COOLDOWN_SECONDS - (quotas.clock() - float(opened))
            # Half-open: exactly one probe request until a task succeeds or fails.
            if left > 0 or not r.set(_PROBE, 1, nx=True, ex=int(settings.ZK_BREAKER_COOLDOWN_SECONDS)):
                wait = max(1, math.ceil(left if left > 0 else settings.ZK_BREAKER_COOLDOWN_SECONDS))
                raise Refused(
                    503, "breaker_open", f"Verification is paused after worker failures; retry in {wait} s.", wait
                )
    depth = _broker_depth()
    if depth is not None and depth >= settings.ZK_ADMISSION_MAX_QUEUE:
        wait = settings.ZK_ADMISSION_RETRY_AFTER_SECONDS
        raise Refused(
            429, "backpressure", f"The verification queue is full; retry in {wait} s.", wait, queue_depth=depth
        )
    p95 = worker_latency_p95()
    if p95 is not None and p95 > settings.ZK_ADMISSION_MAX_LATENCY_SECONDS:
        wait = settings.ZK_ADMISSION_RETRY_AFTER_SECONDS
        raise Refused(
            429,
            "backpressure",
            f"Verification is running {p95:.0f} s behind; retry in {wait} s.",
            wait,
            worker_latency_p95_seconds=round(p95, 1),
        )


def gated(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an API handler that creates worker work."""

    @functools.wraps(handler)
    def inner(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            admit()
        except Refused as exc:
            record_refusal(getattr(getattr(request, "tenant", None), "pk", None), exc.code)
            raise
        return handler(view, request, *args, **kwargs)

    return inner
