from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.api.base import StrictSerializer

from ..models import DATA_CLASS_CHOICES, Dataset, DatasetVersion, GraphView
from ..selectors import visible_stats_summary


class DatasetVersionSerializer(serializers.ModelSerializer):
    stats_summary = serializers.SerializerMethodField()

    def get_stats_summary(self, version: DatasetVersion) -> dict[str, Any]:
        request = self.context.get("request")
        return visible_stats_summary(version, getattr(request, "tenant_roles", frozenset()))

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "content_hash",
            "source_format",
            "node_count",
            "edge_count",
            "attribute_classes",
            "stats_summary",
            "created_at",
        ]


class DatasetSerializer(serializers.ModelSerializer):
    latest_version = DatasetVersionSerializer(read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "name",
            "description",
            "license",
            "legal_authority",
            "structure_class",
            "created_at",
            "latest_version",
        ]


class UploadSerializer(StrictSerializer):
    graph = serializers.FileField(required=False, help_text="One JSON graph file.")
    nodes = serializers.FileField(required=False, help_text="Nodes CSV (with edges).")
    edges = serializers.FileField(required=False, help_text="Edges CSV (with nodes).")


class DatasetCreateSerializer(UploadSerializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    license = serializers.CharField(max_length=100, required=False, default="internal")
    legal_authority = serializers.CharField(max_length=100, required=False, default="none")
    structure_class = serializers.ChoiceField(choices=DATA_CLASS_CHOICES, required=False, default="P2")


class GraphViewSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tier1 = serializers.BooleanField(source="is_tier1", read_only=True)

    class Meta:
        model = GraphView
        fields = ["slug", "name", "dataset", "fields", "hops", "node_filter", "edge_filter", "tier1", "created_at"]


class GraphViewCreateSerializer(StrictSerializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    dataset = serializers.SlugField()
    fields = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50)
    hops = serializers.IntegerField(min_value=0, max_value=10, default=1)
    node_filter = serializers.DictField(required=False, default=dict)
    edge_filter = serializers.DictField(required=False, default=dict)
