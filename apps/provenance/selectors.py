from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.queries.models import QueryRun

from .models import IntegrityReport, Verification, WitnessedEntry


def evidence_runs() -> QuerySet[QueryRun]:
    """Executed query runs with their manifest and verifications (newest verification first)."""
    return (
        QueryRun.objects.filter(manifest__isnull=False)
        .select_related("user", "dataset_version__dataset", "manifest")
        .prefetch_related(
            Prefetch(
                "manifest__verifications",
                queryset=Verification.objects.select_related("entry").order_by("-created_at", "-id"),
            )
        )
        .order_by("-created_at", "-id")
    )


def latest_verification(run: QueryRun) -> Verification | None:
    verifications = list(run.manifest.verifications.all())
    return verifications[0] if verifications else None


def witnessed_entries() -> QuerySet[WitnessedEntry]:
    return WitnessedEntry.objects.select_related("verification__manifest").order_by("-leaf_index")


def integrity_reports() -> QuerySet[IntegrityReport]:
    """The current tenant's integrity reports, newest first."""
    return IntegrityReport.objects.order_by("-checked_at", "-id")
