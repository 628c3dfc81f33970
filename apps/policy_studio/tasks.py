"""Thin Celery tasks for the Studio lifecycle: ids in, a service call."""

from __future__ import annotations

from celery import shared_task

from apps.core.tenancy import tenant_task


@shared_task(name="policy_studio.run_gates", acks_late=True, time_limit=900, soft_time_limit=840)
@tenant_task
def run_gates(tenant_id: int, job_id: int) -> str:
    from .promotions import gates_run

    return gates_run(job_id).status


@shared_task(name="policy_studio.drift_check_all", time_limit=600, soft_time_limit=560)
def drift_check_all() -> int:
    """From beat: one drift check per active tenant, each its own task."""
    from apps.core.models import Tenant

    tenants = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for pk in tenants:
        drift_check.delay(pk)
    return len(tenants)


@shared_task(name="policy_studio.drift_check", time_limit=600, soft_time_limit=560)
@tenant_task
def drift_check(tenant_id: int) -> dict:
    from .drift import drift_check as check

    return check()
