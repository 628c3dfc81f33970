"""Cases for tests/core/test_cross_tenant.py: tenant A's anomaly (with its page) and a
suppression rule, so every pcq_ops page and API route is asked for them as tenant B."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.tenancy import tenant_context


def _anomaly(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.pcq_ops import anomalies, lineage

    current = {"dataset": lineage.dataset_node("calls-demo", 1, "0" * 64)}
    with tenant_context(tenant), transaction.atomic():
        a = anomalies.anomaly_record(
            kind="error", message="grp12-0", current=current, subject="query:calls-demo:x", dataset="calls-demo"
        )
    return {"pk": str(a.pk), "node": "dataset", "page": str(a.page_id)}


def _page(tenant: Any, owner: Any) -> dict[str, str]:
    names = _anomaly(tenant, owner)
    return {"pk": names["page"]}


def _rule(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.pcq_ops import anomalies

    with tenant_context(tenant):
        rule = anomalies.suppression_create(
            actor=owner, matchers={"dataset": "calls-demo", "kind": "error"}, reason="grp12-0", hours=2
        )
    return {"pk": str(rule.pk)}


PCQ_OPS_API_CASES = {"pcq-ops-anomaly-api": _anomaly, "pcq-ops-suppression-api": _rule}
PCQ_OPS_PAGE_CASES = {
    "pcq-ops-anomaly": _anomaly,
    "pcq-ops-lineage": _anomaly,
    "pcq-ops-page": _page,
    "pcq-ops-approve": _rule,
    "pcq-ops-revoke": _rule,
}
# The e-mail approval link names no object: its token is the credential, tried across
# tenants in tests/pcq_ops/test_pages_and_links.py (another tenant's admin signed in: 403).
PCQ_OPS_TOKEN_PAGES = {"pcq-ops-email-approve"}
