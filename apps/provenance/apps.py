from __future__ import annotations

from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "apps.provenance"
    label = "provenance"
    verbose_name = "Provenance (PCQ)"

    def ready(self) -> None:
        from apps.core.services import register_audit_evidence
        from apps.queries.hooks import register_chain_compiler, register_manifest_recorder, register_run_links

        from .dsl_compiler import query_spec
        from .receivers import sign_and_queue

        register_manifest_recorder(sign_and_queue)  # manifests for every executed query
        register_chain_compiler(query_spec)  # `prov` chains on the query page and the API
        register_run_links(evidence_links)  # the query page links to its evidence

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


def evidence_links(run: object, user: object, roles: frozenset[str]) -> list:
    """The query page's link to the run's evidence (manifest, verdict, log entry)."""
    from django.urls import reverse

    from apps.queries.hooks import RunLink

    from .models import Manifest
    from .permissions import EVIDENCE_READERS

    if not roles & EVIDENCE_READERS or not Manifest.objects.filter(query_run_id=run.pk).exists():  # type: ignore[attr-defined]
        return []
    url = reverse("evidence-detail", args=[run.pk])  # type: ignore[attr-defined]
    return [RunLink("evidence", "Evidence: manifest, verdict and log entry", url)]
