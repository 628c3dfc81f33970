"""Reads for JIT: who may approve, active grants (the pipeline's grant provider), inboxes,
approval-time metrics."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from guardian.shortcuts import get_users_with_perms

from apps.core.models import Membership, Role
from apps.core.tenancy import get_current_tenant
from apps.policy_studio.lac.engine import GrantFacts
from apps.policy_studio.models import SubjectAttributes

from .models import AccessGrant, AccessRequest, Approval
from .permissions import GRANT_ADMINS


def _groups(user_ids: list[int]) -> dict[int, set[str]]:
    return {a.user_id: set(a.groups) for a in SubjectAttributes.objects.filter(user_id__in=user_ids)}


def eligible_approvers(request: AccessRequest, *, include_fallback: bool | None = None) -> list[AbstractBaseUser]:
    """Active approvers of this tenant, never the requester, in the rule's approver groups
    (or, once escalated, its fallback groups), holding django-guardian's
    ``graphs.approve_access`` on the dataset (or the global permission)."""
    include_fallback = bool(request.escalated_at) if include_fallback is None else include_fallback
    User = get_user_model()
    member_ids = set(
        Membership.objects.filter(role=Role.APPROVER, is_active=True, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    member_ids.discard(request.requester_id)
    permitted = set(
        get_users_with_perms(
            request.dataset, only_with_perms_in=["approve_access"], with_superusers=False, with_group_users=True
        ).values_list("id", flat=True)
    ) | set(
        User.objects.filter(
            user_permissions__codename="approve_access", user_permissions__content_type__app_label="graphs"
        ).values_list("id", flat=True)
    )
    candidates = sorted(member_ids & permitted)
    wanted = set(request.approver_groups) | (set(request.fallback_groups) if include_fallback else set())
    if request.approver_groups or (include_fallback and request.fallback_groups):
        groups = _groups(candidates)
        candidates = [uid for uid in candidates if groups.get(uid, set()) & wanted]
    return list(User.objects.filter(id__in=candidates).order_by("username"))


def fallback_approvers(request: AccessRequest) -> list[AbstractBaseUser]:
    if not request.fallback_groups:
        return []
    primary = {u.pk for u in eligible_approvers(request, include_fallback=False)}
    return [u for u in eligible_approvers(request, include_fallback=True) if u.pk not in primary]


def active_grant_facts(user: AbstractBaseUser, now: datetime) -> list[GrantFacts]:
    """The pipeline's grant provider: grants active *now*, checked at plan time."""
    if get_current_tenant() is None:
        return []
    grants = AccessGrant.objects.filter(
        user=user, revoked_at__isnull=True, starts_at__lte=now, expires_at__gt=now
    ).select_related("dataset")
    return [
        GrantFacts(g.pk, g.rule_id, g.dataset.slug, frozenset(g.data_classes), g.purpose, g.reason_sha256)
        for g in grants
    ]


def requests_for(user: AbstractBaseUser) -> QuerySet[AccessRequest]:
    return AccessRequest.objects.filter(requester=user).select_related("dataset", "requester").order_by("-created_at")


def inbox_for(user: AbstractBaseUser) -> list[AccessRequest]:
    pending = AccessRequest.objects.filter(status=AccessRequest.Status.PENDING).select_related("dataset", "requester")
    decided = set(Approval.objects.filter(approver=user).values_list("request_id", flat=True))
    return [r for r in pending if r.pk not in decided and any(u.pk == user.pk for u in eligible_approvers(r))]


def grants() -> QuerySet[AccessGrant]:
    return AccessGrant.objects.select_related("user", "dataset", "request").order_by("-starts_at")


def grants_visible_to(user: AbstractBaseUser, roles: frozenset[str]) -> QuerySet[AccessGrant]:
    """Admins and auditors see every grant of the tenant; others only their own."""
    return grants() if roles & GRANT_ADMINS else grants().filter(user=user)


def approval_metrics() -> dict[str, Any]:
    """Request-to-decision times (minutes) for approved requests in the current tenant."""
    rows = AccessRequest.objects.filter(status=AccessRequest.Status.APPROVED, decided_at__isnull=False).values_list(
        "created_at", "decided_at"
    )
    minutes = sorted((decided - created).total_seconds() / 60 for created, decided in rows)
    if not minutes:
        return {"approved": 0, "median_minutes": None, "p90_minutes": None}
    p90 = minutes[min(len(minutes) - 1, int(0.9 * len(minutes)))]
    return {
        "approved": len(minutes),
        "median_minutes": round(statistics.median(minutes), 2),
        "p90_minutes": round(p90, 2),
    }
