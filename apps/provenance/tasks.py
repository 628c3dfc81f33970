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
    """Verify one manifest: attest, replay, witness, log. Runs once per verification row;
    a row that vanished is skipped."""
    if not Verification.objects.filter(pk=verification_id).exists():
        return None
    return services.verification_run(verification_id).status
