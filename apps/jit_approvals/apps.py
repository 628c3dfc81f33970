from django.apps import AppConfig


class JitApprovalsConfig(AppConfig):
    name = "apps.jit_approvals"
    label = "jit_approvals"
    verbose_name = "JIT approvals"

    def ready(self) -> None:
        from apps.core.logging import register_sensitive_pattern
        from apps.queries.hooks import (
            register_grant_describer,
            register_grant_issuer,
            register_grant_provider,
            register_run_links,
        )

        # E-mail action URLs carry a live, signed approval token: Django's own request logging
        # (e.g. "Internal Server Error: /jit/email/<token>/") must never write it.
        register_sensitive_pattern(r"/jit/email/[^/\s'\"]+")

        from apps.core.audit_targets import register_audit_target

        from .demo import approved_grant
        from .selectors import active_grant_facts, grant_summary, run_links

        register_audit_target("jit_approvals.accessrequest", "Access request", "jit-request-detail")
        register_audit_target("jit_approvals.accessgrant", "Grant", "jit-grant")
        register_audit_target("jit_approvals.slackidentity", "Slack link")
        register_grant_provider(active_grant_facts)
        register_grant_describer(grant_summary)
        register_grant_issuer(approved_grant)
        register_run_links(run_links)
