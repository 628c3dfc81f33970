"""The one hook into PCQ verification: when a verification row is saved finished, its
lineage (and any anomaly) is recorded after the verdict commits. No edit to provenance."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.core.tenancy import tenant_context
from apps.provenance.models import Verification


@receiver(post_save, sender=Verification)
def _verification_saved(sender: Any, instance: Verification, created: bool, **kwargs: Any) -> None:
    if created or instance.finished_at is None:
        return
    pk, tenant = instance.pk, instance.tenant

    def record() -> None:
        from . import anomalies

        with tenant_context(tenant):
            v = Verification.objects.select_related("manifest").get(pk=pk)
            anomalies.verification_finished(v)

    transaction.on_commit(record)
