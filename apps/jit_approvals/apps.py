from django.apps import AppConfig


class JitApprovalsConfig(AppConfig):
    name = "apps.jit_approvals"
    label = "jit_approvals"
    verbose_name = "JIT approvals"

    def ready(self) -> None:
        from apps.policy_studio import pipeline

        from .selectors import active_grant_facts

        if active_grant_facts not in pipeline.grant_providers:
            pipeline.grant_providers.append(active_grant_facts)
