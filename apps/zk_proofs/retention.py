"""Transcript retention: after ``ZK_TRANSCRIPT_RETENTION_DAYS`` a session's sealed blinded
sets and its wrapped data key are deleted (crypto-shredding: a backup of the blobs alone no
longer opens). Bundles, roots and verdicts stay — they hold no blinded point."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.services import audit_record
from apps.core.tenancy import tenant_context

from .models import OverlapSession, Participation


def transcripts_purge(now: datetime | None = None) -> int:
    """Delete every transcript older than the retention period; audited in both tenants'
    chains. Unfinished sessions that old are failed as expired. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ZK_TRANSCRIPT_RETENTION_DAYS)
    done = 0
    for session in OverlapSession.objects.filter(created_at__lt=cutoff, transcript_deleted_at__isnull=True):
        with transaction.atomic():
            claimed = OverlapSession.objects.filter(pk=session.pk, transcript_deleted_at__isnull=True).update(
                transcript_deleted_at=now, data_key_wrapped=None
            )
            if not claimed:
                continue
            if session.status not in (OverlapSession.Status.DONE, OverlapSession.Status.FAILED):
                OverlapSession.objects.filter(pk=session.pk).update(
                    status=OverlapSession.Status.FAILED,
                    failure="expired: transcript retention reached",
                    finished_at=now,
                )
            parts = list(Participation.all_tenants.select_related("tenant").filter(session=session))
            Participation.all_tenants.filter(session=session).update(round1_sealed=None, round2_sealed=None)
            for part in parts:
                with tenant_context(part.tenant):
                    audit_record(
                        "zk.transcript_deleted",
                        target=part,
                        payload={
                            "session": str(session.public_id),
                            "retention_days": settings.ZK_TRANSCRIPT_RETENTION_DAYS,
                        },
                    )
        done += 1
    return done
