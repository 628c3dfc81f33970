"""Thin Celery tasks: ids in, a service call, retries declared."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.core.tenancy import tenant_task

from . import services
from .models import Verification


@shared_task(
    name="provenance.verify",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    time_limit=900,
    soft_time_limit=840,
)
@tenant_task
def verify(tenant_id: int, verification_id: int) -> str | None:
    """Verify one manifest: attest, replay, witness, log. Completes once per verification
    row (a lease, see ``services.verification_run``); duplicates and vanished rows are no-ops."""
    if not Verification.objects.filter(pk=verification_id).exists():
        return None
    return services.verification_run(verification_id).status


@shared_task(name="provenance.integrity_verify_all", acks_late=True, time_limit=1800, soft_time_limit=1740)
def integrity_verify_all() -> dict:
    """Nightly: every integrity check for every active tenant, stored for its auditors
    (idempotent: each run only adds reports)."""
    from apps.core.models import Tenant

    from .integrity import integrity_run

    reports = integrity_run(list(Tenant.objects.filter(is_active=True).order_by("pk")), trigger="nightly")
    return {"tenants": len(reports), "failed": [r.tenant_id for r in reports if not r.ok]}


@shared_task(name="provenance.verification_sweep", time_limit=120, soft_time_limit=100)
def verification_sweep() -> int:
    """Every minute: re-queue verifications a dead worker left behind."""
    return len(services.verification_sweep())


@shared_task(name="provenance.audit_heads_anchor", acks_late=True, time_limit=300, soft_time_limit=280)
def audit_heads_anchor() -> int:
    """Hourly: append every active tenant's changed audit head to the transparency log
    (skipped while the log fails its own check; integrity_verify reports why)."""
    from apps.core.models import Tenant

    if services.log_audit():
        return 0
    return len(services.audit_heads_anchor(list(Tenant.objects.filter(is_active=True).order_by("pk"))))
