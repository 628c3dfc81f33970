"""The ZK-TX operator page (``/ops/zk/``): queue depth per tenant, breaker state, admission
and quota refusals, worker latency and the fairness of the last windows.

Operators (superusers: the platform's staff) see every tenant; a tenant admin sees the
shared state (breaker, latency, whole-queue depth) and only its own tenant's rows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from apps.core.errors import PermissionDenied
from apps.core.models import Tenant
from apps.core.permissions import SIGNED_IN, TenantRoleRequiredMixin, has_role

from . import admission, scheduler
from .views import ADMINS


def overview(visible: set[int] | None) -> dict[str, Any]:
    """What the page shows; ``visible`` = tenant ids whose rows may be shown (None = all)."""

    def keep(tenant_id: int) -> bool:
        return visible is None or tenant_id in visible

    depths = {t: d for t, d in scheduler.depths().items() if keep(t)}
    refusals = {t: r for t, r in admission.refusals().items() if keep(t)}
    windows = []
    for w in scheduler.recent_windows(5):
        mine = {t: v for t, v in w["tenants"].items() if keep(t)}
        windows.append({**w, "tenants": mine})
    ids = set(depths) | set(refusals) | {t for w in windows for t in w["tenants"]}
    names = dict(Tenant.objects.filter(pk__in=ids).values_list("pk", "name"))
    rows = [
        {
            "tenant": names.get(t, f"tenant {t}"),
            "queued_jobs": depths.get(t, {}).get("queued_jobs", 0),
            "pending_proofs": depths.get(t, {}).get("pending_proofs", 0.0),
            "refusals": sorted(refusals.get(t, {}).items()),
        }
        for t in sorted(ids)
    ]
    for w in windows:
        w["rows"] = sorted(({"tenant": names.get(t, f"tenant {t}"), **v} for t, v in w["tenants"].items()), key=str)
    return {"state": admission.state(), "leased": scheduler.leased(), "rows": rows, "windows": windows}


class ZkOpsView(TenantRoleRequiredMixin, View):
    required_roles = SIGNED_IN  # operators need no tenant; tenant admins are checked below

    def get(self, request: HttpRequest) -> HttpResponse:
        operator = bool(request.user.is_active and request.user.is_superuser)
        tenant = getattr(request, "tenant", None)
        if not operator and (tenant is None or not has_role(request, ADMINS)):
            raise PermissionDenied("This page is for operators and tenant admins.")
        data = overview(None if operator else {tenant.pk})
        return render(request, "zk_proofs/ops.html", {**data, "operator": operator})
