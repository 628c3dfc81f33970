from __future__ import annotations

from celery import shared_task

from apps.core.tenancy import tenant_task

from . import services
from .models import Participation


@shared_task(name="zk.verify_round2", acks_late=True, time_limit=900, soft_time_limit=840)
@tenant_task
def verify_round2(tenant_id: int, participation_id: int) -> bool | None:
    """Verify a tenant's round-2 proofs (cached per chunk); evaluate when both are in."""
    if not Participation.objects.filter(pk=participation_id).exists():
        return None
    return services.verify_round2(participation_id)
