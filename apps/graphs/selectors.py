from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from .models import Dataset, DatasetVersion, GraphView
from .permissions import STATS_VIEWERS

PUBLIC_STATS_KEYS = ("nodes", "edges")


def datasets() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def dataset_versions(dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).defer("graph_blob", "stats_blob").order_by("-number")


def graph_views() -> QuerySet[GraphView]:
    return GraphView.objects.select_related("dataset").order_by("name")


def visible_stats_summary(version: DatasetVersion, roles: Iterable[str]) -> dict[str, Any]:
    """The part of a version's planner statistics the holder of ``roles`` may see: everything
    for policy authors, auditors and admins; node and edge counts only for anyone else (the
    hub, its degree, the histograms and the largest component are what constraints protect).
    The one rule for the API serializers and the HTML pages."""
    summary = version.stats_summary or {}
    if set(roles) & STATS_VIEWERS:
        return dict(summary)
    return {key: summary[key] for key in PUBLIC_STATS_KEYS if key in summary}
