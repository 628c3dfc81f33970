from __future__ import annotations

from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "apps.provenance"
    label = "provenance"
    verbose_name = "Provenance (PCQ)"

    def ready(self) -> None:
        from apps.core.services import register_audit_evidence
        from apps.queries.hooks import register_manifest_recorder

        from .receivers import sign_and_queue

        register_manifest_recorder(sign_and_queue)  # manifests for every executed query

        register_audit_evidence(audit_head_anchors)


def audit_head_anchors(tenant: object) -> tuple[int, str] | None:
    """The newest audit head anchored in the transparency log: the chain reached its seq."""
    from .models import AuditHeadAnchor

    anchor = AuditHeadAnchor.all_tenants.filter(tenant=tenant).order_by("-seq").first()
    if anchor is None or not anchor.seq:
        return None
    return anchor.seq, f"the audit-head anchor at log leaf {anchor.leaf_index}"
