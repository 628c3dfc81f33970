"""Policy Studio's scrape-time metric, registered with core's ``/metrics`` in ``AppConfig.ready``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.core.metrics import tenant_label
from apps.core.models import Tenant

from .models import Policy

logger = logging.getLogger("trustfabric.metrics")


class PolicyDriftCollector(Collector):
    """1 per tenant whose active policy versions differ from the registry of what it should
    run (TF_POLICY_REGISTRY_FILE: {tenant slug: {policy slug: version number}}), else 0.
    Policy environments and their promotion registry are another issue's; until it lands,
    the registry file is written by whoever promotes (make gameday does)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("tf_policy_drift", "Active policies differ from the registry.", labels=["tenant"])
        path = settings.TF_POLICY_REGISTRY_FILE
        if path:
            try:
                expected = json.loads(Path(path).read_text())
                for tenant_id, _slug, drift in _policy_drift(expected):
                    family.add_metric([tenant_label(tenant_id)], float(drift))
            except (OSError, ValueError) as exc:
                logger.warning("policy registry unreadable", extra={"error": type(exc).__name__})
        yield family


def _policy_drift(expected: dict[str, dict[str, int]]) -> list[tuple[int, str, bool]]:
    out = []
    for tenant in Tenant.objects.filter(slug__in=list(expected)):
        running = dict(
            Policy.all_tenants.filter(tenant=tenant, active_version__isnull=False).values_list(
                "slug", "active_version__number"
            )
        )
        out.append((tenant.pk, tenant.slug, running != expected[tenant.slug]))
    return out
