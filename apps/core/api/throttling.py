from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class TenantRateThrottle(SimpleRateThrottle):
    """One budget per tenant, shared by all its users and tokens, so one busy tenant cannot
    starve the others. Anonymous callers are throttled per address."""

    scope = "tenant"

    def get_rate(self) -> str:
        return settings.TF_API_TENANT_RATE

    def allow_request(self, request: Any, view: Any) -> bool:
        # The rate is read per request so it can be changed without a restart of tests.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        tenant = getattr(request, "tenant", None)
        ident = f"t{tenant.pk}" if tenant is not None else f"ip{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
