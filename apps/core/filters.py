"""One FilterSet per list, shared by the HTML page and the API viewset."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from .models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    action = django_filters.CharFilter(field_name="action", lookup_expr="istartswith", label="Action starts with")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="iexact", label="Actor")
    target_type = django_filters.CharFilter(field_name="target_type", lookup_expr="iexact", label="Target type")
    target_id = django_filters.CharFilter(field_name="target_id", label="Target id")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEvent
        fields = ["q", "action", "actor", "target_type", "target_id", "since", "until"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(action__icontains=value) | Q(reason__icontains=value) | Q(actor_label__icontains=value)
        )
