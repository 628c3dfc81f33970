"""Reads for JIT: who may approve, active grants (the pipeline's grant provider), inboxes,
approval-time metrics."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import Count, Exists, JSONField, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.core.models import Membership, Role
from apps.core.tenancy import get_current_tenant
from apps.policy_studio.lac.engine import GrantFacts
from apps.policy_studio.models import SubjectAttributes
from apps.queries.hooks import RunLink

from .models import AccessGrant, AccessRequest, Approval, SlackIdentity
from .permissions import GRANT_ADMINS


def _candidates(dataset_id: int) -> list[tuple[int, list[str]]]:
    """(user id, subject groups) of every active approver of the current tenant allowed by
    django-guardian to approve access to the dataset — one query, whatever their number."""
    User = get_user_model()
    ct = ContentType.objects.get_by_natural_key("graphs", "dataset")  # cached by Django
    perm = Q(permission__codename="approve_access", permission__content_type=ct)
    on_dataset = Q(content_type=ct, object_pk=str(dataset_id)) & perm
    global_perm = User.user_permissions.through.objects.filter(
        user=OuterRef("pk"), permission__codename="approve_access", permission__content_type=ct
    )
    rows = (
        User.objects.filter(is_active=True)
        .filter(Exists(Membership.objects.filter(user=OuterRef("pk"), role=Role.APPROVER, is_active=True)))
        .filter(
            Exists(UserObjectPermission.objects.filter(on_dataset, user=OuterRef("pk")))
            | Exists(GroupObjectPermission.objects.filter(on_dataset, group__user=OuterRef("pk")))
            | Exists(global_perm)
        )
        .annotate(
            subject_groups=Subquery(
                SubjectAttributes.objects.filter(user=OuterRef("pk")).values("groups")[:1], output_field=JSONField()
            )
        )
        .values_list("id", "subject_groups")
    )
    return [(uid, list(groups or [])) for uid, groups in rows]


def _candidates_cached(dataset_id: int) -> list[tuple[int, list[str]]]:
    """:func:`_candidates`, shared by every web and worker process for a few seconds, so a
    burst of requests on one dataset computes eligibility once. Only fan-out (who gets
    notified) and display use this; a decision always re-checks without it."""
    tenant = get_current_tenant()
    ttl = settings.JIT_ELIGIBILITY_CACHE_SECONDS
    if tenant is None or ttl <= 0:
        return _candidates(dataset_id)
    key = f"jit:eligible:{tenant.pk}:{dataset_id}"
    found = cache.get(key)
    if found is None:
        found = _candidates(dataset_id)
        cache.set(key, found, ttl)
    return found


def eligible_approvers(
    request: AccessRequest, *, include_fallback: bool | None = None, cached: bool = False
) -> list[AbstractBaseUser]:
    """Active approvers of this tenant, never the requester, in the rule's approver groups
    (or, once escalated, its fallback groups), holding django-guardian's
    ``graphs.approve_access`` on the dataset (directly or through a group) or the global
    permission. ``cached``: see :func:`_candidates_cached` (never for decisions)."""
    include_fallback = bool(request.escalated_at) if include_fallback is None else include_fallback
    candidates = (_candidates_cached if cached else _candidates)(request.dataset_id)
    wanted = set(request.approver_groups) | (set(request.fallback_groups) if include_fallback else set())
    filter_groups = bool(request.approver_groups or (include_fallback and request.fallback_groups))
    ids = [
        uid for uid, groups in candidates if uid != request.requester_id and (not filter_groups or set(groups) & wanted)
    ]
    if not ids:
        return []
    # Each approver's verified Slack id rides along, so fan-out needs no second query.
    slack_id = SlackIdentity.objects.filter(user=OuterRef("pk"), verified_at__isnull=False).values("slack_user_id")
    users = (
        get_user_model().objects.filter(id__in=ids, is_active=True).annotate(verified_slack_id=Subquery(slack_id[:1]))
    )
    return list(users.order_by("username"))


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
    return [
        r for r in pending if r.pk not in decided and any(u.pk == user.pk for u in eligible_approvers(r, cached=True))
    ]


@dataclass
class InboxRow:
    req: AccessRequest
    approved: int  # approvals so far
    source_run_id: int | None  # the query that triggered it


def inbox_rows(user: AbstractBaseUser) -> list[InboxRow]:
    """The inbox with each request's progress ("1 of 2 approvals") and triggering query."""
    requests = inbox_for(user)
    counts = dict(
        Approval.objects.filter(request__in=[r.pk for r in requests], decision=Approval.Decision.APPROVE)
        .values("request")
        .annotate(n=Count("id"))
        .values_list("request", "n")
    )
    return [InboxRow(r, counts.get(r.pk, 0), r.source_run_id) for r in requests]


def decision_message(request: AccessRequest, decision: str) -> str:
    """What the approver is told after deciding: the outcome, or how many approvals remain."""
    if decision == Approval.Decision.DENY:
        return f"You denied request #{request.pk}; {request.requester.get_username()} has been told."
    if request.status == AccessRequest.Status.APPROVED:
        grant = request.grant
        return (
            f"You approved request #{request.pk}. Access is now active for {request.requester.get_username()} "
            f"until {grant.expires_at:%Y-%m-%d %H:%M} UTC (grant #{grant.pk}); they have been told."
        )
    approved = request.approvals.filter(decision=Approval.Decision.APPROVE).count()
    return (
        f"You approved request #{request.pk}: {approved} of {request.approvals_required} approvals; "
        "access starts when the others approve."
    )


def grants() -> QuerySet[AccessGrant]:
    return AccessGrant.objects.select_related("user", "dataset", "request").order_by("-starts_at")


def grants_visible_to(user: AbstractBaseUser, roles: frozenset[str]) -> QuerySet[AccessGrant]:
    """Admins and auditors see every grant of the tenant; others only their own."""
    return grants() if roles & GRANT_ADMINS else grants().filter(user=user)


def grants_revocable_by(user: AbstractBaseUser, roles: frozenset[str]) -> QuerySet[AccessGrant]:
    """Tenant admins may end any grant; everyone else only their own. Auditors see every
    grant (``grants_visible_to``) but the role is read-only, so they revoke only their own."""
    return grants() if Role.ADMIN in roles else grants().filter(user=user)


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


def grant_summary(grant_id: int) -> dict[str, Any]:
    """The JIT grant a query ran under: its id, the bound reason's hash, who approved it how
    (the manifest's ``jit_grant``; registered as the queries grant describer)."""
    grant = AccessGrant.objects.select_related("request").get(pk=grant_id)
    return {
        "id": grant.pk,
        "request": grant.request_id,
        "reason_sha256": grant.reason_sha256,
        "starts_at": grant.starts_at.isoformat(),
        "expires_at": grant.expires_at.isoformat(),
        "approvals": [
            {"approver": a.approver.get_username(), "channel": a.channel, "at": a.created_at.isoformat()}
            for a in grant.request.approvals.select_related("approver").order_by("created_at")
        ],
    }


def run_links(run: Any, user: AbstractBaseUser, roles: frozenset[str]) -> list[RunLink]:
    """The query page's links into JIT (a declared hook): the requests the run led to and
    the request whose grant it ran under. Approvers, admins and auditors see every request
    made from the run (the request page checks eligibility); others only their own."""
    found = AccessRequest.objects.filter(source_run_id=run.pk)
    if not roles & (GRANT_ADMINS | {Role.APPROVER}):
        found = found.filter(requester=user)
    links = [
        RunLink("request", f"Access request #{r.pk} ({r.get_status_display().lower()})", _request_url(r.pk))
        for r in found.order_by("created_at")
    ]
    if run.jit_grant_id:
        grant = AccessGrant.objects.filter(pk=run.jit_grant_id).first()
        if grant is not None and not any(link.url == _request_url(grant.request_id) for link in links):
            links.append(
                RunLink(
                    "request", f"Access request #{grant.request_id} (grant #{grant.pk})", _request_url(grant.request_id)
                )
            )
    return links


def _request_url(pk: int) -> str:
    return reverse("jit-request-detail", args=[pk])
