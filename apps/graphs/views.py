"""Data pages: datasets (upload, versions, statistics) and saved views."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import selectors, services
from .forms import DatasetCreateForm, UploadFilesForm, ViewCreateForm
from .permissions import DATA_READERS, DATA_STEWARDS


class DatasetListView(TenantRoleRequiredMixin, View):
    required_roles = {"get": DATA_READERS, "post": DATA_STEWARDS}

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, DatasetCreateForm(), ViewCreateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("form") == "view":
            return self._create_view(request)
        form = DatasetCreateForm(request.POST, request.FILES)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k not in ("graph", "nodes", "edges")}
            try:
                version = services.dataset_create(actor=request.user, files=form.uploaded(), **data)
            except DomainError as exc:
                return self._render(
                    request,
                    form,
                    ViewCreateForm(),
                    status=exc.status,
                    error=exc.message,
                    problems=exc.details.get("problems"),
                )
            messages.success(
                request, f"Uploaded {version.dataset.name}: {version.node_count} nodes, {version.edge_count} edges."
            )
            return redirect("dataset-page", slug=version.dataset.slug)
        return self._render(request, form, ViewCreateForm(), status=400)

    def _create_view(self, request: HttpRequest) -> HttpResponse:
        form = ViewCreateForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            edge_types = [t.strip() for t in d["edge_types"].split(",") if t.strip()]
            try:
                view = services.view_create(
                    actor=request.user,
                    slug=d["slug"],
                    name=d["name"],
                    dataset_slug=d["dataset"],
                    fields=d["fields"],
                    hops=d["hops"],
                    edge_filter={"type": edge_types} if edge_types else {},
                )
            except DomainError as exc:
                return self._render(request, DatasetCreateForm(), form, status=exc.status, error=exc.message)
            messages.success(request, f"View {view.name} saved{' (Tier-1)' if view.is_tier1 else ''}.")
            return redirect("datasets")
        return self._render(request, DatasetCreateForm(), form, status=400)

    def _render(self, request: HttpRequest, form: Any, view_form: Any, status: int = 200, **extra: Any) -> HttpResponse:
        return render(
            request,
            "graphs/datasets.html",
            {
                "datasets": selectors.datasets(),
                "views": selectors.graph_views(),
                "form": form,
                "view_form": view_form,
                "can_write": has_role(request, DATA_STEWARDS),
                **extra,
            },
            status=status,
        )


class DatasetDetailView(TenantRoleRequiredMixin, View):
    required_roles = {"get": DATA_READERS, "post": DATA_STEWARDS}

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        return self._render(request, slug, UploadFilesForm())

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        dataset = get_object_or_404(selectors.datasets(), slug=slug)
        form = UploadFilesForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version, created = services.dataset_version_upload(
                    actor=request.user, dataset=dataset, files=form.uploaded()
                )
            except DomainError as exc:
                return self._render(
                    request, slug, form, status=exc.status, error=exc.message, problems=exc.details.get("problems")
                )
            messages.success(
                request,
                f"Version {version.number} uploaded."
                if created
                else "Same content as the latest version; nothing changed.",
            )
            return redirect("dataset-page", slug=slug)
        return self._render(request, slug, form, status=400)

    def _render(self, request: HttpRequest, slug: str, form: Any, status: int = 200, **extra: Any) -> HttpResponse:
        dataset = get_object_or_404(selectors.datasets(), slug=slug)
        versions = list(selectors.dataset_versions(dataset))
        return render(
            request,
            "graphs/dataset_detail.html",
            {
                "dataset": dataset,
                "versions": versions,
                "latest": versions[0] if versions else None,
                "stats": selectors.visible_stats_summary(versions[0], getattr(request, "tenant_roles", frozenset()))
                if versions
                else {},
                "form": form,
                "can_write": has_role(request, DATA_STEWARDS),
                **extra,
            },
            status=status,
        )
