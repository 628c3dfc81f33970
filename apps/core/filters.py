"""One FilterSet per list, shared by the HTML page and the API viewset."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from .models import AuditEvent


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant that must be representable in UTC: ``9999-12-31T23:59-23:00``
    parses, but converting it overflows the calendar, which the database layer would
    otherwise raise as a 500."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed
        except OverflowError as exc:
            raise forms.ValidationError(
                "This instant is outside the supported range (years 1 to 9999 in UTC).", code="out_of_range"
            ) from exc


# The schema says what is accepted: Python's ISO 8601 reading, wider than OpenAPI's RFC 3339
# ``date-time`` (a bare date, minutes without seconds: what a date or datetime-local field sends).
@extend_schema_field(
    {
        "type": "string",
        "example": "2026-12-01T09:30:00Z",
        "description": "An ISO 8601 date or date and time, e.g. 2026-12-01, 2026-12-01T09:30 or "
        "2026-12-01T09:30:00+01:00 (read by Python's datetime.fromisoformat); without an offset, UTC.",
    }
)
class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class AuditEventFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    action = django_filters.CharFilter(field_name="action", lookup_expr="istartswith", label="Action starts with")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="iexact", label="Actor")
    target_type = django_filters.CharFilter(field_name="target_type", lookup_expr="iexact", label="Target type")
    target_id = django_filters.CharFilter(field_name="target_id", label="Target id")
    since = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label="Since")
    until = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEvent
        fields = ["q", "action", "actor", "target_type", "target_id", "since", "until"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(action__icontains=value) | Q(reason__icontains=value) | Q(actor_label__icontains=value)
        )
