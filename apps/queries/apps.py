from __future__ import annotations

from django.apps import AppConfig


class QueriesConfig(AppConfig):
    name = "apps.queries"
    label = "queries"
    verbose_name = "Queries (the pipeline and its decision log)"

    def ready(self) -> None:
        from apps.core.audit_targets import register_audit_target
        from apps.core.services import register_audit_evidence
        from apps.policy_studio.hooks import register_decision_history, register_decision_rows, register_redteam_corpus

        from .models import QUERY_RUN_AUDIT_TARGET
        from .redteam import corpus_facts
        from .selectors import past_decisions, policy_decision_rows

        register_audit_evidence(query_run_audit_seqs)
        register_decision_history(past_decisions)
        register_decision_rows(policy_decision_rows)
        register_redteam_corpus(corpus_facts)
        register_audit_target(QUERY_RUN_AUDIT_TARGET, "Query", "query-detail")


def query_run_audit_seqs(tenant: object) -> tuple[int, str] | None:
    """Every executed query records the seq of its audit event."""
    from .models import QueryRun

    run = QueryRun.all_tenants.filter(tenant=tenant, audit_seq__isnull=False).order_by("-audit_seq").first()
    if run is None:
        return None
    return run.audit_seq, f"query run {run.pk}"
