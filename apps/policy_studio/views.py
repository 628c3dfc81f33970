"""Studio pages: policies (editor with live validation, versions, activation), the
simulator, Tier-1 coverage, (the query page is apps.queries)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import environments, selectors, services
from .environments import first_name
from .forms import NEW_POLICY_TEMPLATE, PolicyEditForm
from .hooks import decision_history
from .permissions import AUTHORS, POLICY_READERS
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
        """Opens on the version in force in the chosen environment (``?environment=``, prod by
        default) and says so, so that the next small fix starts from what runs, not from a
        newer draft or a rolled-back version; ``?environment=latest`` opens the latest saved."""
        policy = get_object_or_404(selectors.policies(), slug=slug) if slug else None
        environment = request.GET.get("environment") or environments.prod_name()
        if environment != "latest" and environment not in environments.names():
            raise Http404(f"No environment {environment!r}.")
        latest = selectors.policy_versions(policy).first() if policy else None
        in_force = environments.running_version(policy, environment) if policy and environment != "latest" else None
        opened = in_force or latest
        form = PolicyEditForm(
            initial={
                "slug": slug or "",
                "name": policy.name if policy else "",
                "source": opened.source if opened else NEW_POLICY_TEMPLATE,
            }
        )
        return self._render(
            request,
            policy,
            form,
            opened={"version": opened, "environment": environment, "in_force": in_force is not None, "latest": latest},
        )

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
                environment=first_name(),  # one-click activation is for the first environment only
            )
        except DomainError as exc:
            return self._render(
                request, policy, form, status=exc.status, error=exc.message, problems=exc.details.get("problems")
            )
        messages.success(
            request,
            f"Saved version {version.number}{f' and put it in force in {first_name()}' if d['activate'] else ''}.",
        )
        return redirect("policy-edit", slug=version.policy.slug)

    def _render(
        self, request: HttpRequest, policy: Any, form: PolicyEditForm, status: int = 200, **extra: Any
    ) -> HttpResponse:
        versions = list(selectors.policy_versions(policy)) if policy else []
        return render(
            request,
            "policy_studio/policy_edit.html",
            {
                "policy": policy,
                "form": form,
                "versions": versions,
                "can_write": has_role(request, AUTHORS),
                "environments": environments.names(),
                **extra,
            },
            status=status,
        )


class PolicyActivateView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def post(self, request: HttpRequest, slug: str, number: int) -> HttpResponse:
        get_object_or_404(selectors.policies(), slug=slug)
        environment = request.POST.get("environment") or first_name()
        try:
            services.policy_put_in_force(actor=request.user, slug=slug, number=number, environment=environment)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("policy-edit", slug=slug)
        messages.success(request, f"Version {number} is now in force in {environment}.")
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
        sim = simulate(a, b, decision_history())
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
