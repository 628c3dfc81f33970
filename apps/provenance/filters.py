from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.core.filters import UTCIsoDateTimeFilter
from apps.policy_studio.models import QueryRun

from .models import Verification, WitnessedEntry


class EvidenceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search (run id, manifest digest, user)")
    verdict = django_filters.ChoiceFilter(method="by_verdict", choices=Verification.Status.choices, label="Verdict")
    dataset = django_filters.CharFilter(field_name="dataset_version__dataset__slug", label="Dataset")
    logged = django_filters.BooleanFilter(method="by_logged", label="In the log")
    # UTC first: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows (a 500 otherwise).
    since = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")

    class Meta:
        model = QueryRun
        fields = ["q", "verdict", "dataset", "logged", "since"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = Q(manifest__digest__startswith=value.lower()) | Q(user__username__iexact=value)
        if value.isdigit():
            condition |= Q(pk=int(value))
        return queryset.filter(condition)

    def by_verdict(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        latest = (
            Verification.objects.filter(manifest=OuterRef("manifest"))
            .order_by("-created_at", "-id")
            .values("status")[:1]
        )
        from django.db.models import Subquery

        return queryset.annotate(_latest=Subquery(latest)).filter(_latest=value)

    def by_logged(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        logged = WitnessedEntry.objects.filter(verification__manifest=OuterRef("manifest"))
        return queryset.filter(Exists(logged)) if value else queryset.exclude(Exists(logged))
