"""Studio pages: policies (editor with live validation, versions, activation), the
simulator, Tier-1 coverage, and the query page with its decision trail."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role
from apps.core.selectors import audit_trail_for

from . import selectors, services
from .denials import subject_decision
from .forms import NEW_POLICY_TEMPLATE, PolicyEditForm, QueryForm
from .permissions import AUTHORS, POLICY_READERS, QUERY_READERS, QUERY_RUNNERS
from .pipeline import query_run_execute
from .simulator import simulate


class PolicyListView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "policy_studio/policies.html",
            {
                "policies": selectors.policies(),
                "coverage": selectors.tier1_coverage(),
                "can_write": has_role(request, AUTHORS),
            },
        )


class PolicyEditView(TenantRoleRequiredMixin, View):
    required_roles = {"get": POLICY_READERS, "post": AUTHORS}

    def get(self, request: HttpRequest, slug: str | None = None) -> HttpResponse:
        policy = get_object_or_404(selectors.policies(), slug=slug) if slug else None
        latest = selectors.policy_versions(policy).first() if policy else None
        form = PolicyEditForm(
            initial={
                "slug": slug or "",
                "name": policy.name if policy else "",
                "source": latest.source if latest else NEW_POLICY_TEMPLATE,
            }
        )
        return self._render(request, policy, form)

    def post(self, request: HttpRequest, slug: str | None = None) -> HttpResponse:
        policy = get_object_or_404(selectors.policies(), slug=slug) if slug else None
        if not has_role(request, AUTHORS):
            return self._render(
                request,
                policy,
                PolicyEditForm(request.POST),
                status=403,
                error="Only policy authors can save policies.",
            )
        form = PolicyEditForm(request.POST)
        if not form.is_valid():
            return self._render(request, policy, form, status=400)
        d = form.cleaned_data
        if slug and d["slug"] != slug:
            form.add_error("slug", "The slug of an existing policy cannot change.")
            return self._render(request, policy, form, status=400)
        try:
            version = services.policy_save_version(
                actor=request.user,
                slug=d["slug"],
                name=d["name"],
                source=d["source"],
                note=d["note"],
                activate=d["activate"],
            )
        except DomainError as exc:
            return self._render(
                request, policy, form, status=exc.status, error=exc.message, problems=exc.details.get("problems")
            )
        messages.success(request, f"Saved version {version.number}{' and put it in force' if d['activate'] else ''}.")
        return redirect("policy-edit", slug=version.policy.slug)

    def _render(
        self, request: HttpRequest, policy: Any, form: PolicyEditForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        versions = list(selectors.policy_versions(policy)) if policy else []
        return render(
            request,
            "policy_studio/policy_edit.html",
            {"policy": policy, "form": form, "versions": versions, "can_write": has_role(request, AUTHORS), **extra},
            status=status,
        )


class PolicyActivateView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def post(self, request: HttpRequest, slug: str, number: int) -> HttpResponse:
        get_object_or_404(selectors.policies(), slug=slug)
        services.policy_activate(actor=request.user, slug=slug, number=number)
        messages.success(request, f"Version {number} is now in force.")
        return redirect("policy-edit", slug=slug)


class PolicyVersionView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READERS

    def get(self, request: HttpRequest, slug: str, number: int) -> HttpResponse:
        policy = get_object_or_404(selectors.policies(), slug=slug)
        version = get_object_or_404(selectors.policy_versions(policy), number=number)
        return render(request, "policy_studio/policy_version.html", {"policy": policy, "version": version})


class SimulationView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        policy = get_object_or_404(selectors.policies(), slug=slug)
        versions = list(selectors.policy_versions(policy))
        by_number = {v.number: v for v in versions}
        default_a = (
            policy.active_version.number if policy.active_version else (versions[-1].number if versions else None)
        )
        default_b = versions[0].number if versions else None
        try:
            a = by_number[int(request.GET.get("a", default_a))]
            b = by_number[int(request.GET.get("b", default_b))]
        except (KeyError, TypeError, ValueError):
            return render(
                request,
                "error.html",
                {"status": 404, "error": {"code": "not_found", "message": "No such policy version."}},
                status=404,
            )
        sim = simulate(a, b, selectors.query_runs())
        if request.GET.get("format") == "csv":
            response = HttpResponse(sim.to_csv(), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="simulation-{slug}-v{a.number}-v{b.number}.csv"'
            return response
        return render(
            request,
            "policy_studio/simulation.html",
            {"policy": policy, "versions": versions, "sim": sim, "a": a, "b": b},
        )


class CoverageView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "policy_studio/coverage.html", {"coverage": selectors.tier1_coverage()})


class QueryView(TenantRoleRequiredMixin, View):
    required_roles = {"get": QUERY_READERS, "post": QUERY_RUNNERS}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, QueryForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if not has_role(request, QUERY_RUNNERS):
            return self._render(request, QueryForm(request.POST), status=403, error="Your role cannot run queries.")
        form = QueryForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            spec = json.loads(form.cleaned_data["spec"])
        except json.JSONDecodeError as exc:
            return self._render(
                request, form, status=400, error=f"Not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
        try:
            run = query_run_execute(actor=request.user, roles=request.tenant_roles, spec=spec)
        except DomainError as exc:
            return self._render(request, form, status=exc.status, error=exc.message, details=exc.details)
        return redirect(reverse("query-detail", args=[run.pk]))

    def _render(self, request: HttpRequest, form: QueryForm, status: int = 200, **extra: Any) -> HttpResponse:
        runs = selectors.query_runs_visible_to(request.user, request.tenant_roles)[:50]
        return render(request, "policy_studio/queries.html", {"form": form, "runs": runs, **extra}, status=status)


class QueryDetailView(TenantRoleRequiredMixin, View):
    required_roles = QUERY_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(selectors.query_runs_visible_to(request.user, request.tenant_roles), pk=pk)
        decisions = list(selectors.decisions_for(run))
        return render(
            request,
            "policy_studio/query_detail.html",
            {
                "run": run,
                "decisions": decisions
                if request.tenant_roles & selectors.RUN_OVERSEERS
                else [
                    SimpleNamespace(
                        policy_version=d.policy_version, mode=d.mode, reason_codes=d.reason_codes, **subject_decision(d)
                    )
                    for d in decisions
                ],
                "trail": audit_trail_for("policy_studio.queryrun", run.pk)
                if has_role(request, {"auditor", "admin"})
                else None,
                "spec_json": json.dumps(run.spec, indent=2),
            },
        )
