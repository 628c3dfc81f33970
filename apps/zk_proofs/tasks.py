from __future__ import annotations

from celery import shared_task

from apps.core.tenancy import tenant_task

from . import admission, retention, verification
from .models import OverlapSession, Participation


@shared_task(name="zk.verify_round2", acks_late=True, time_limit=900, soft_time_limit=840)
@tenant_task
def verify_round2(tenant_id: int, participation_id: int) -> bool | None:
    """Verify a tenant's round-2 proofs (cached per chunk); evaluate when everything is in."""
    if not Participation.objects.filter(pk=participation_id).exists():
        return None
    try:
        result = verification.verify_round2(participation_id)
    except Exception:
        admission.record_failure()  # a broken worker, not a failing proof: feeds the breaker
        raise
    admission.record_success()
    return result


@shared_task(name="zk.evaluate_session", acks_late=True, time_limit=300, soft_time_limit=280)
@tenant_task
def evaluate_session(tenant_id: int, session_pk: int) -> str | None:
    """Count and sign once both round 2s verified and both tenants countersigned (idempotent)."""
    if not OverlapSession.objects.filter(pk=session_pk).exists():
        return None
    return verification.evaluate(session_pk).status


@shared_task(name="zk.purge_transcripts", time_limit=600, soft_time_limit=580)
def purge_transcripts() -> int:
    """Daily: delete transcripts past ZK_TRANSCRIPT_RETENTION_DAYS (crypto-shredding)."""
    return retention.transcripts_purge()
