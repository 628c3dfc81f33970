from __future__ import annotations

from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "apps.provenance"
    label = "provenance"
    verbose_name = "Provenance (PCQ)"

    def ready(self) -> None:
        from apps.core.services import register_audit_evidence
        from apps.queries.hooks import register_manifest_recorder, register_query_language

        from .dsl_compiler import query_spec
        from .receivers import sign_and_queue

        register_manifest_recorder(sign_and_queue)  # manifests for every executed query
        register_query_language("prov", query_spec)  # a provenance DSL chain runs as its query

        register_audit_evidence(audit_head_anchors)


def audit_head_anchors(tenant: object) -> tuple[int, str] | None:
    """The newest audit head anchored in the transparency log (its AuditHeadAnchor rows, or
    the bytes the log keeps with each anchor leaf): the chain reached its seq."""
    from .models import AuditHeadAnchor
    from .services import log_anchored_heads

    found = list(AuditHeadAnchor.all_tenants.filter(tenant=tenant).values_list("leaf_index", "seq"))
    found += [(index, seq) for index, seq, _ in log_anchored_heads(tenant)]
    index, seq = max(found, key=lambda hit: hit[1], default=(None, 0))
    if not seq:
        return None
    return seq, f"the audit-head anchor at log leaf {index}"
