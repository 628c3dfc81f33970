"""Admission for ZK-TX work that costs the workers: back-pressure and a circuit breaker.

New sessions and fresh verifications (round-2 uploads, which queue O(n) DLEQ work) are
admitted only while the ``zk`` queue is shorter than ``ZK_ADMISSION_MAX_QUEUE`` (else 429
``backpressure``) and the breaker is closed (else 503 ``breaker_open``). The breaker opens
after ``ZK_BREAKER_FAILURES`` worker failures within ``ZK_BREAKER_WINDOW_SECONDS``; after
``ZK_BREAKER_COOLDOWN_SECONDS`` it lets one probe request through (half-open) and closes
when a verification task succeeds. L0 checks, polls and downloads are never gated. State is
in the cache Redis, so every web process and worker sees the same breaker."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings

from apps.core.errors import DomainError

from . import quotas

QUEUE = "zk"
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


def gated(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an API handler that creates worker work."""

    @functools.wraps(handler)
    def inner(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        admit()
        return handler(view, request, *args, **kwargs)

    return inner
