"""Lifecycle pages (docs/studio.md): the environments board with drift and metrics, a
promotion request's page (diff, gate job, insights, approve/apply/reject, the one-click
fix), and the POST endpoints behind their buttons. Errors come back as the page's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import TenantRoleRequiredMixin, has_role

from . import lifecycle, promotions, selectors
from .drift import drift_check
from .environments import names, prod_name
from .lac.diff import diff_policies
from .permissions import AUTHORS, POLICY_READERS


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str) -> Any:
    try:
        result = action()
    except DomainError as exc:
        messages.error(request, exc.message)
        return None
    messages.success(request, success)
    return result


class LifecycleView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        m = lifecycle.metrics()
        return render(
            request,
            "policy_studio/lifecycle.html",
            {
                "board": lifecycle.board(),
                "environments": names(),
                "prod": prod_name(),
                "open_promotions": lifecycle.promotions().filter(status__in=promotions.OPEN)[:50],
                "recent_promotions": lifecycle.promotions().exclude(status__in=promotions.OPEN)[:20],
                "drifts": lifecycle.drifts().exclude(status="resolved")[:100],
                "resolved_drifts": lifecycle.drifts().filter(status="resolved")[:20],
                "metrics": m,
                "ttf_median": lifecycle.duration(m["time_to_fix"]["median_seconds"]),
                "can_write": has_role(request, AUTHORS),
            },
        )


class PromoteView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        get_object_or_404(selectors.policies(), slug=slug)
        try:
            number = int(request.POST.get("version", ""))
        except ValueError:
            messages.error(request, "Choose a version to promote.")
            return redirect("studio-lifecycle")
        created = _attempt(
            request,
            lambda: promotions.promotion_create(
                actor=request.user,
                slug=slug,
                number=number,
                target_env=request.POST.get("target") or None,
                note=request.POST.get("note", ""),
            ),
            "Promotion requested; the gates are running.",
        )
        return redirect("studio-promotion", pk=created.pk) if created else redirect("studio-lifecycle")


class PromotionView(TenantRoleRequiredMixin, View):
    required_roles = POLICY_READERS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        promotion = get_object_or_404(lifecycle.promotions(), pk=pk)
        job = promotion.jobs.order_by("-created_at", "-pk").first()
        base = promotion.base_version
        diff = diff_policies(base.source if base else "mode: monitor\nrules: []\n", promotion.version.source)
        return render(
            request,
            "policy_studio/promotion.html",
            {
                "p": promotion,
                "job": job,
                "diff": diff,
                "changes": [c.as_dict() for c in diff.changes],
                "can_write": has_role(request, AUTHORS),
                "is_proposer": promotion.proposer_id == request.user.pk,
                "running": job is not None and job.status in ("pending", "running"),
            },
        )


class PromotionActionView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS
    ACTIONS = {
        "approve": (promotions.promotion_approve, "Approved and applied."),
        "apply": (promotions.promotion_apply, "Applied."),
    }

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        promotion = get_object_or_404(lifecycle.promotions(), pk=pk)
        if action == "reject":
            reason = request.POST.get("reason", "")
            _attempt(
                request, lambda: promotions.promotion_reject(actor=request.user, pk=pk, reason=reason), "Rejected."
            )
        elif action == "fix":
            gate = request.POST.get("gate", "")
            fixed = _attempt(
                request,
                lambda: promotions.mitigation_apply(actor=request.user, pk=pk, gate=gate),
                "Saved the suggested fix as a new version and proposed it again.",
            )
            if fixed:
                return redirect("studio-promotion", pk=fixed.pk)
        elif action in self.ACTIONS:
            func, text = self.ACTIONS[action]
            _attempt(request, lambda: func(actor=request.user, pk=pk), text)
        else:
            messages.error(request, "Unknown action.")
        return redirect("studio-promotion", pk=promotion.pk)


class RollbackView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        get_object_or_404(selectors.policies(), slug=slug)
        env = request.POST.get("environment") or prod_name()
        _attempt(
            request,
            lambda: promotions.rollback(actor=request.user, slug=slug, environment=env),
            f"Rolled {slug} back in {env}.",
        )
        return redirect("studio-lifecycle")


class DriftCheckView(TenantRoleRequiredMixin, View):
    required_roles = AUTHORS

    def post(self, request: HttpRequest) -> HttpResponse:
        out = _attempt(request, lambda: drift_check(actor=request.user), "Drift checked.")
        if out:
            messages.info(
                request,
                f"{out['detected']} new, {out['resolved']} resolved, {out['auto_merged']} auto-merged, {out['open']} open.",
            )
        return redirect("studio-lifecycle")
