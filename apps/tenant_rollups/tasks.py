"""Thin Celery tasks: the hourly beat fan-out and the delivery of one outbox row."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context

from . import mail, services
from .models import DigestDelivery


@shared_task(name="tenant_rollups.digests_due", time_limit=900, soft_time_limit=840)
def digests_due(now: str | None = None) -> dict[str, str]:
    """Beat, hourly: build the digest of every tenant whose local Monday send hour has passed
    (idempotent: one digest per tenant-week). ``now`` (ISO 8601) is for the test clock."""
    return services.digests_due(datetime.fromisoformat(now) if now else None)


@shared_task(
    bind=True, name="tenant_rollups.deliver", acks_late=True, max_retries=6, time_limit=120, soft_time_limit=100
)
def deliver(self, tenant_id: int, delivery_id: int) -> str | None:
    """Send one digest e-mail; retry with exponential backoff (2, 4, 8 … s, at most 6 times).
    In the embedded profile (eager Celery) retries run inline, immediately."""
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None
    with tenant_context(tenant):
        if not DigestDelivery.objects.filter(pk=delivery_id).exists():
            return None
        try:
            return mail.deliver(delivery_id)
        except Exception as exc:
            if self.request.retries >= self.max_retries:
                raise
            if self.request.is_eager:
                return deliver.apply(args=(tenant_id, delivery_id), retries=self.request.retries + 1).result
            raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc
