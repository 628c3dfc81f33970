"""Cases for tests/core/test_cross_tenant.py: tenant A's promotion request (with a gate job)
and drift finding, so every lifecycle page and API route is asked for them as tenant B."""

from __future__ import annotations

from typing import Any

from apps.core.tenancy import tenant_context


def _promotion(tenant: Any, owner: Any) -> dict[str, str]:
    from apps.policy_studio.models import Drift, GateJob, Policy, PromotionRequest
    from tests.conftest import load_calls_demo

    load_calls_demo(tenant, owner)
    with tenant_context(tenant):
        policy = Policy.objects.get(slug="investigations")
        p = PromotionRequest.objects.create(
            policy=policy, version=policy.versions.get(number=1), source_env="stage", target_env="prod",
            proposer=owner, status="failed", note="grp12-0",
        )  # fmt: skip
        GateJob.objects.create(promotion=p, status="done", results=[{"gate": "lint", "ok": False, "summary": "x"}])
        d = Drift.objects.create(kind="hotfix", key="hotfix:x", policy=policy, environment="prod", summary="grp12-0")
    return {"pk": str(p.pk), "drift": str(d.pk), "slug": "investigations", "action": "approve"}


def _drift(tenant: Any, owner: Any) -> dict[str, str]:
    names = _promotion(tenant, owner)
    return {"pk": names["drift"]}


STUDIO_API_CASES = {
    "promotion": _promotion,
    "drift": _drift,
    "api-registry": _promotion,
    "api-rollbacks": _promotion,
    "api-studio-metrics": _promotion,
}
STUDIO_PAGE_CASES = {
    "studio-promotion": _promotion,
    "studio-promotion-action": _promotion,
    "studio-promote": _promotion,
    "studio-rollback": _promotion,
}
