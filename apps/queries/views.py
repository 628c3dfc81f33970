"""The query page (run a query, list runs) and a run's page with its decision trail."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from apps.core.api.parsers import BodyRefused, loads_checked
from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role
from apps.core.selectors import audit_trail_for
from apps.policy_studio.permissions import QUERY_READERS, QUERY_RUNNERS

from . import hooks, selectors
from .denials import subject_decision
from .forms import QueryForm
from .models import QUERY_RUN_AUDIT_TARGET
from .pipeline import query_run_execute
from .specs import spec_from_body


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
            spec = loads_checked(form.cleaned_data["spec"])
        except BodyRefused as exc:
            return self._render(request, form, status=400, error=str(exc.detail), details=exc.tf_details)
        except json.JSONDecodeError as exc:
            return self._render(
                request, form, status=400, error=f"Not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
        except ValueError as exc:
            return self._render(request, form, status=400, error=f"Not valid JSON: {exc}")
        try:
            if isinstance(spec, dict) and form.cleaned_data.get("environment"):
                spec = {**spec, "environment": form.cleaned_data["environment"]}
            run = query_run_execute(actor=request.user, roles=request.tenant_roles, spec=spec_from_body(spec))
        except DomainError as exc:
            return self._render(request, form, status=exc.status, error=exc.message, details=exc.details)
        return redirect(reverse("query-detail", args=[run.pk]))

    def _render(self, request: HttpRequest, form: QueryForm, status: int = 200, **extra: Any) -> HttpResponse:
        runs = selectors.query_runs_visible_to(request.user, request.tenant_roles)[:50]
        return render(request, "queries/queries.html", {"form": form, "runs": runs, **extra}, status=status)


class QueryDetailView(TenantRoleRequiredMixin, View):
    required_roles = QUERY_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(selectors.query_runs_visible_to(request.user, request.tenant_roles), pk=pk)
        decisions = list(selectors.decisions_for(run))
        return render(
            request,
            "queries/query_detail.html",
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
                "trail": audit_trail_for(QUERY_RUN_AUDIT_TARGET, run.pk)
                if has_role(request, {"auditor", "admin"})
                else None,
                "spec_json": json.dumps(run.spec, indent=2),
                "offer": selectors.jit_offer(run, request.user),
                "links": hooks.run_links(run, request.user, request.tenant_roles),
            },
        )
