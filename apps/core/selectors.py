"""Reads. Every function returns data already scoped to the current tenant (through the
scoped managers) unless its name says it looks across tenants for one user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from .models import ApiToken, AuditChainCheck, AuditEvent, Membership, Tenant
from .tenancy import require_current_tenant


def tenant_access_for_user(user: AbstractBaseUser) -> dict[Tenant, frozenset[str]]:
    """Every active tenant the user belongs to, with the user's roles there.

    Crosses tenants on purpose (it feeds the tenant switcher), hence ``all_tenants``."""
    if not user.is_active:
        return {}
    rows = (
        Membership.all_tenants.filter(user=user, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .order_by("tenant__name", "role")
    )
    access: dict[Tenant, set[str]] = {}
    for membership in rows:
        access.setdefault(membership.tenant, set()).add(membership.role)
    return {tenant: frozenset(roles) for tenant, roles in access.items()}


def tenant_members() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("user__username", "role")


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("actor").order_by("-seq")


def audit_trail_for(target_type: str, target_id: Any) -> QuerySet[AuditEvent]:
    """Every audit event about one object, oldest first: the "how did we get here" view."""
    return audit_events().filter(target_type=target_type, target_id=str(target_id)).order_by("seq")


def latest_chain_check() -> AuditChainCheck | None:
    return AuditChainCheck.objects.order_by("-checked_at").first()


def api_tokens_for(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def objects_for_user(user: AbstractBaseUser, perm: str, queryset: QuerySet) -> QuerySet:
    """Objects of ``queryset`` (already tenant-scoped) on which ``user`` holds the
    django-guardian permission ``perm``. Uses an ``id__in`` subquery, which stays fast on
    large tables where guardian's generic join does not (the paperless-ngx approach)."""
    require_current_tenant()
    allowed = get_objects_for_user(user, perm, klass=queryset.model.all_tenants.all(), accept_global_perms=True)
    return queryset.filter(id__in=allowed.values("id"))
