"""Graph datasets, their immutable versions, and saved views."""

from __future__ import annotations

import gzip
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel

DATA_CLASS_CHOICES = [(c, c) for c in ("P0", "P1", "P2", "P3")]
TIER1_CLASSES = frozenset({"P0", "P1"})


class Dataset(TenantOwnedModel):
    """A named graph. Its contents live in versions; its resource attributes (license,
    legal authority, and the data class of the link structure itself) feed the policy."""

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    license = models.CharField(max_length=100, default="internal")
    legal_authority = models.CharField(max_length=100, default="none")
    structure_class = models.CharField(
        max_length=2,
        choices=DATA_CLASS_CHOICES,
        default="P2",
        help_text="Data class of the links themselves (who is connected to whom).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="uniq_dataset_slug")]
        # Object permission (django-guardian): may approve just-in-time access to this dataset.
        permissions = [("approve_access", "Can approve just-in-time access")]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> DatasetVersion | None:
        return DatasetVersion.all_tenants.filter(dataset=self).order_by("-number").first()


class DatasetVersion(TenantOwnedModel):
    """One immutable upload, addressed by the SHA-256 of its canonical form."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, db_index=True)
    source_format = models.CharField(max_length=8)
    node_count = models.PositiveIntegerField()
    edge_count = models.PositiveIntegerField()
    attribute_classes = models.JSONField(help_text='{"nodes": {attr: class}, "edges": {attr: class}}')
    stats_summary = models.JSONField()
    stats_blob = models.BinaryField(editable=False)
    graph_blob = models.BinaryField(editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="uniq_dataset_version_number")]

    def __str__(self) -> str:
        return f"{self.dataset_id} v{self.number} ({self.content_hash[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Dataset versions are immutable.")
        super().save(*args, **kwargs)

    @staticmethod
    def pack(doc: Any) -> bytes:
        return gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=6, mtime=0)

    @staticmethod
    def unpack(blob: bytes | memoryview) -> Any:
        return json.loads(gzip.decompress(bytes(blob)))

    def class_of(self, attribute: str) -> str | None:
        classes = self.attribute_classes
        return classes["nodes"].get(attribute) or classes["edges"].get(attribute)


class GraphView(TenantOwnedModel):
    """A named, saved query over a dataset. A query on a view may narrow it (fewer fields,
    fewer hops, stricter filters) but never widen it. Tier-1 = its fields include P0/P1."""

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="views")
    fields = models.JSONField(default=list)
    hops = models.PositiveSmallIntegerField(default=1)
    node_filter = models.JSONField(default=dict, blank=True)
    edge_filter = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="uniq_view_slug")]

    def __str__(self) -> str:
        return self.name

    def output_classes(self, version: DatasetVersion | None = None) -> set[str]:
        version = version or self.dataset.latest_version
        if version is None:
            return set()
        return {c for f in self.fields if (c := version.class_of(f))}

    @property
    def is_tier1(self) -> bool:
        return bool(self.output_classes() & TIER1_CLASSES)
