"""Thin Celery tasks: deliver one outbox row (retried with backoff), post-decision Slack
updates, and the beat sweep."""

from __future__ import annotations

from celery import shared_task

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context, tenant_task

from . import notify, services
from .models import AccessRequest, Notification


@shared_task(bind=True, name="jit.deliver", acks_late=True, max_retries=6, time_limit=60, soft_time_limit=50)
def deliver(self, tenant_id: int, notification_id: int) -> str | None:
    """Deliver one outbox row; on failure retry with exponential backoff (2, 4, 8 … s, at
    most 6 times). In the embedded profile (eager Celery) retries run inline, immediately."""
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None
    with tenant_context(tenant):
        if not Notification.objects.filter(pk=notification_id).exists():
            return None
        try:
            return notify.deliver(notification_id)
        except Exception as exc:
            if self.request.retries >= self.max_retries:
                raise
            if self.request.is_eager:
                return deliver.apply(args=(tenant_id, notification_id), retries=self.request.retries + 1).result
            raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 120)) from exc


@shared_task(
    name="jit.slack_update",
    autoretry_for=(Exception,),
    retry_backoff=2,
    max_retries=5,
    time_limit=60,
    soft_time_limit=50,
)
@tenant_task
def slack_update(tenant_id: int, request_id: int, who: str, decision: str) -> None:
    request = AccessRequest.objects.filter(pk=request_id).select_related("dataset").first()
    if request is not None:
        notify.update_slack_message(request, who, decision)


@shared_task(name="jit.sweep_all", time_limit=300, soft_time_limit=240)
def sweep_all() -> dict[str, dict[str, int]]:
    """Beat, every minute: reminders, escalation, auto-deny, expiry notices, in every tenant."""
    out = {}
    for tenant in Tenant.objects.filter(is_active=True):
        with tenant_context(tenant):
            out[tenant.slug] = services.sweep()
    return out


@shared_task(name="jit.outbox_sweep", time_limit=120, soft_time_limit=100)
def outbox_sweep() -> int:
    """Beat, every minute: re-queue outbox rows whose delivery was lost — a worker killed
    mid-send (expired lease) or a broker message that never arrived. The claim in
    ``notify.deliver`` makes a duplicate task harmless."""
    rows = notify.stale_outbox()
    for tenant_id, notification_id in rows:
        deliver.delay(tenant_id, notification_id)
    return len(rows)
