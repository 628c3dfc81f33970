"""PCQ operations pages: the anomaly explorer (list, filter, group, CSV), an anomaly with its
lineage path, one lineage node with what changed since the last good run, on-call pages,
the weekly fixture report (and CSV), suppression rules (create, approve, revoke, approve from
an e-mail link) and replay sampling rates."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import DomainError
from apps.core.permissions import PUBLIC, TenantRoleRequiredMixin
from apps.core.tenancy import tenant_context

from . import anomalies, approval_links, lineage, rules, selectors, services
from .models import Anomaly, OnCallPage, SuppressionRule
from .permissions import OPS_ADMINS, OPS_READERS, RULE_APPROVERS, RULE_AUTHORS


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


class SamplingView(TenantRoleRequiredMixin, View):
    """Replay sampling rates of the tenant and per dataset (admins only; every change audited)."""

    required_roles = {"get": OPS_ADMINS, "post": OPS_ADMINS}

    def get(self, request: HttpRequest, error: str = "", at: str | None = None, status: int = 200) -> HttpResponse:
        ctx = {**selectors.sampling_rows(), "error": error, "error_at": at, "typed": request.POST.get("rate", "")}
        return render(request, "pcq_ops/sampling.html", ctx, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        from apps.graphs.models import Dataset

        slug = request.POST.get("dataset", "")
        # Another tenant's dataset is not found, exactly like one that does not exist.
        dataset = get_object_or_404(Dataset, slug=slug) if slug else None
        label = f"dataset {slug}" if dataset else "the tenant default"
        if request.POST.get("action") == "clear":
            if services.sampling_clear(actor=request.user, dataset=dataset):
                then = "it follows the tenant default again" if dataset else "runs are replayed at 100% again"
                messages.success(request, f"Replay rate of {label} removed: {then}.")
            return redirect("pcq-ops-sampling")
        try:
            rate = services.sampling_parse(request.POST.get("rate", ""))
            services.sampling_set(actor=request.user, rate=rate, dataset=dataset)
        except DomainError as exc:
            return self.get(request, error=exc.message, at=slug, status=400)
        messages.success(request, f"Replay rate of {label} set to {rate:.1%}.")
        return redirect("pcq-ops-sampling")


@method_decorator(csrf_exempt, name="dispatch")
class EmailApproveView(View):
    """No sign-in: the signed, single-use, approver-bound token is the credential (as JIT
    e-mail links). GET shows a confirmation page (mail scanners that prefetch links only see
    that); the POST from it approves. Someone signed in as another user cannot use it."""

    required_roles = PUBLIC
    template = "pcq_ops/email_approve.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        link, problem = approval_links.resolve(token)
        status = 200 if problem is None else (404 if link is None else 410)
        if problem is None and request.user.is_authenticated and request.user.pk != link.approver_id:
            problem, status = "This link belongs to another approver; it cannot be used from your account.", 403
        return render(request, self.template, {"link": link, "problem": problem}, status=status)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        link, problem = approval_links.resolve(token)
        if link is None:
            return render(request, self.template, {"problem": problem}, status=404)
        with tenant_context(link.tenant):
            other = request.user.is_authenticated and request.user.pk != link.approver_id
            if problem is not None or other:
                approval_links.refuse(
                    link, "not_link_owner" if other else "bad_email_link", request.user if other else None
                )
                if other:
                    problem = "This link belongs to another approver; it was not used."
                return render(request, self.template, {"link": link, "problem": problem}, status=403 if other else 410)
            try:
                rule = approval_links.use(link)
            except DomainError as exc:
                # The rollback took the claim with it: the link is still unspent.
                approval_links.refuse(link, exc.code, link.approver)
                return render(request, self.template, {"link": link, "problem": exc.message}, status=exc.status)
        return render(request, self.template, {"link": link, "rule": rule, "done": True})
