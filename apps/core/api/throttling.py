from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from ..cache import incr_window


class TenantRateThrottle(SimpleRateThrottle):
    """One budget per tenant, shared by all its users and tokens, so one busy tenant cannot
    starve the others. Anonymous callers are throttled per address.

    A fixed-window counter: one cache increment per request, whatever the rate. DRF's
    own throttle keeps the time of every request in the window as one cached list, which a
    busy tenant reads, rewrites and pickles on every request (at 100 req/s over a minute,
    6,000 floats each way). The window's edge can let through up to twice the rate within
    one ``duration``; the ZK-TX token buckets (``apps/zk_proofs/quotas.py``) smooth bursts
    where shaping matters."""

    scope = "tenant"

    def get_rate(self) -> str:
        return settings.TF_API_TENANT_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        # The rate is read per request so it can be changed without a restart of tests.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None or (key := self.get_cache_key(request, view)) is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        count = incr_window(caches["default"], f"{key}:{window}", timeout=int(self.duration) + 1)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(0.0, self.window_ends - self.now)

    def get_cache_key(self, request: Any, view: Any) -> str:
        tenant = getattr(request, "tenant", None)
        ident = f"t{tenant.pk}" if tenant is not None else f"ip{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
