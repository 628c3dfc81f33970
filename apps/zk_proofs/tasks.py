from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.core.tenancy import tenant_task

from . import admission, retention, scheduler, verification
from .models import OverlapSession, Participation


@shared_task(name="zk.verify_round2", acks_late=True, time_limit=900, soft_time_limit=840)
@tenant_task
def verify_round2(tenant_id: int, participation_id: int) -> bool | None:
    """Verify a tenant's round-2 proofs (cached per chunk); evaluate when everything is in."""
    part = Participation.objects.filter(pk=participation_id).first()
    if part is None:
        return None
    if part.round2_verified:
        return True  # a job that came back after its worker finished it: done once
    try:
        result = verification.verify_round2(participation_id)
    except Exception:
        admission.record_failure()  # a broken worker, not a failing proof: feeds the breaker
        raise
    admission.record_success()
    return result


def queue_round2(tenant_id: int, participation_id: int, cost: float) -> None:
    """Verification goes through the fair scheduler when a real worker serves the broker."""
    if scheduler.enabled():
        scheduler.submit(tenant_id, "zk.verify_round2", [tenant_id, participation_id], cost=cost)
    else:
        verify_round2.delay(tenant_id, participation_id)


@shared_task(name="zk.drain", acks_late=True, time_limit=900, soft_time_limit=840)
def drain() -> str | None:
    """Run the next verification job by deficit round robin across tenants (one message per
    job; which job is decided at pop time). Returns the job id, or None if nothing was due."""
    return scheduler.run_next({"zk.verify_round2": verify_round2})


# A deadlock with a concurrent countersignature (seen under load) is retried, not lost:
# evaluation is idempotent (a conditional update claims it).
@shared_task(
    name="zk.evaluate_session",
    acks_late=True,
    time_limit=300,
    soft_time_limit=280,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    max_retries=5,
)
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
