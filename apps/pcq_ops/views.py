"""PCQ operations pages: the anomaly explorer (list, filter, group, CSV), an anomaly with its
lineage path, one lineage node with what changed since the last good run, on-call pages,
the weekly fixture report (and CSV) and suppression rules (create, approve, revoke)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin

from . import anomalies, lineage, rules, selectors
from .models import Anomaly, OnCallPage, SuppressionRule
from .permissions import OPS_READERS, RULE_APPROVERS, RULE_AUTHORS


def _csv(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ExplorerView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = selectors.anomalies(request.GET)
        if request.GET.get("format") == "csv":
            return _csv(selectors.anomalies_csv(qs), "pcq-anomalies.csv")
        by = request.GET.get("group", "")
        return render(
            request,
            "pcq_ops/explorer.html",
            {
                "rows": qs[:200],
                "total": qs.count(),
                "groups": [{**g, "label": g[by]} for g in selectors.grouped(qs, by)],
                "group_by": by,
                "group_choices": selectors.GROUPS,
                "filters": {k: request.GET.get(k, "") for k in (*selectors.FILTERS, "state", "q")},
                "choices": [
                    (k, options, request.GET.get(k, ""))
                    for k, options in (
                        ("kind", rules.KINDS),
                        ("severity", rules.SEVERITIES),
                        ("root_kind", rules.ROOT_KINDS),
                    )
                ],
                "query": request.GET.urlencode(),
            },
        )


class AnomalyView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        a = get_object_or_404(Anomaly.objects.select_related("fixture", "suppressed_by", "page"), pk=pk)
        path = [{"node": n, **a.lineage[n], "changed": n in a.changed} for n in lineage.NODES if n in a.lineage]
        return render(request, "pcq_ops/anomaly.html", {"a": a, "path": path})


class LineageNodeView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest, pk: int, node: str) -> HttpResponse:
        a = get_object_or_404(Anomaly, pk=pk)
        if node not in a.lineage:
            raise Http404("No such lineage node.")
        before = (a.last_good or {}).get(node)
        related = Anomaly.objects.filter(root=a.root).exclude(pk=a.pk).count() if a.root else 0
        return render(
            request,
            "pcq_ops/lineage_node.html",
            {
                "a": a,
                "node": node,
                "now": a.lineage[node],
                "before": before,
                "changed": node in a.changed,
                "is_root": lineage.ROOT_KIND.get(node) == a.root_kind and node in a.changed,
                "related": related,
            },
        )


class PagesView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "pcq_ops/pages.html", {"pages": OnCallPage.objects.all()[:200]})


class PageView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        page = get_object_or_404(OnCallPage, pk=pk)
        return render(request, "pcq_ops/page.html", {"page": page, "rows": page.anomalies.all()})


class ReportView(TenantRoleRequiredMixin, View):
    required_roles = OPS_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        report = selectors.fixture_report()
        if request.GET.get("format") == "csv":
            return _csv(selectors.fixture_report_csv(report), "fixture-quarantine.csv")
        return render(request, "pcq_ops/report.html", {"r": report})


class SuppressionsView(TenantRoleRequiredMixin, View):
    required_roles = {"get": OPS_READERS, "post": RULE_AUTHORS}

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = SuppressionRule.objects.select_related("created_by").annotate(muted=Count("anomaly"))
        return render(request, "pcq_ops/suppressions.html", {"rules": rows})

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            matchers = json.loads(request.POST.get("matchers", "") or "null")
            hours = float(request.POST.get("hours", "0"))
        except ValueError as exc:
            raise DomainError("matchers must be JSON and hours a number.", code="validation_error") from exc
        rule = anomalies.suppression_create(
            actor=request.user, matchers=matchers, reason=request.POST.get("reason", ""), hours=hours
        )
        messages.success(request, f"Rule {rule.pk} waits for {rule.approvals_required} approval(s) by someone else.")
        return redirect("pcq-ops-suppressions")


class SuppressionApproveView(TenantRoleRequiredMixin, View):
    required_roles = {"post": RULE_APPROVERS}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = get_object_or_404(SuppressionRule, pk=pk)
        anomalies.suppression_approve(rule, actor=request.user, roles=frozenset(request.tenant_roles))
        return redirect("pcq-ops-suppressions")


class SuppressionRevokeView(TenantRoleRequiredMixin, View):
    required_roles = {"post": RULE_AUTHORS}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = get_object_or_404(SuppressionRule, pk=pk)
        anomalies.suppression_revoke(rule, actor=request.user, reason=request.POST.get("reason", ""))
        return redirect("pcq-ops-suppressions")
