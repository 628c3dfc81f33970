from __future__ import annotations

from django.db.models import QuerySet

from .models import Dataset, DatasetVersion, GraphView


def datasets() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def dataset_versions(dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset).defer("graph_blob", "stats_blob").order_by("-number")


def graph_views() -> QuerySet[GraphView]:
    return GraphView.objects.select_related("dataset").order_by("name")
