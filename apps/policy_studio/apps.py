from __future__ import annotations

from django.apps import AppConfig


class PolicyStudioConfig(AppConfig):
    name = "apps.policy_studio"
    label = "policy_studio"
    verbose_name = "Policy Studio (LAC)"

    def ready(self) -> None:
        from apps.core.metrics import register_scrape_collector

        from .metrics import PolicyDriftCollector

        register_scrape_collector(PolicyDriftCollector)
