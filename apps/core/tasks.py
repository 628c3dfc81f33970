"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from . import services
from .models import Tenant
from .tenancy import tenant_task


@shared_task(name="core.audit_chain_verify", acks_late=True, time_limit=600, soft_time_limit=540)
@tenant_task
def audit_chain_verify(tenant_id: int) -> dict:
    """Walk one tenant's audit chain and store the result (idempotent: each run adds a
    check row; nothing else changes)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    check = services.audit_chain_check(tenant)
    return {"tenant": tenant.slug, "ok": check.ok, "events_checked": check.events_checked, "check_id": check.pk}


@shared_task(name="core.audit_chain_verify_all")
def audit_chain_verify_all() -> int:
    """Nightly: fan out one verification per active tenant."""
    ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in ids:
        audit_chain_verify.delay(tenant_id)
    return len(ids)
