from __future__ import annotations

from django.apps import AppConfig


class PolicyStudioConfig(AppConfig):
    name = "apps.policy_studio"
    label = "policy_studio"
    verbose_name = "Policy Studio (LAC)"

    def ready(self) -> None:
        from apps.core.audit_targets import register_audit_target
        from apps.core.metrics import register_scrape_collector

        from .metrics import PolicyDriftCollector

        register_scrape_collector(PolicyDriftCollector)
        register_audit_target("policy_studio.policy", "Policy")
        register_audit_target("policy_studio.policyversion", "Policy version")
        register_audit_target("policy_studio.subjectattributes", "Subject attributes")
