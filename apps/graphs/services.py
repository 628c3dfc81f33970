"""Writes for datasets and views: parse and compute everything first, then store it all in
one transaction with its audit event, so a bad or interrupted upload leaves nothing behind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.services import audit_record

from . import ingest
from .models import Dataset, DatasetVersion, GraphView
from .stats import build_networkx, compute_stats

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass
class UploadedFile:
    name: str
    data: bytes


def parse_upload(files: dict[str, UploadedFile]) -> tuple[ingest.Graph, str]:
    """``{"graph": json}`` or ``{"nodes": csv, "edges": csv}`` → (graph, format)."""
    try:
        if "graph" in files:
            return ingest.parse_json(files["graph"].data, files["graph"].name), "json"
        if "nodes" in files and "edges" in files:
            names = (files["nodes"].name, files["edges"].name)
            return ingest.parse_csv(files["nodes"].data, files["edges"].data, names), "csv"
    except ingest.GraphFormatError as exc:
        raise ValidationFailed(str(exc), code="invalid_graph", details={"problems": exc.problems}) from exc
    raise ValidationFailed(
        'Upload either one JSON file as "graph", or two CSV files as "nodes" and "edges".',
        code="invalid_graph",
        details={"files": sorted(files)},
    )


def _store_version(
    dataset: Dataset, graph: ingest.Graph, fmt: str, actor: AbstractBaseUser
) -> tuple[DatasetVersion, bool]:
    content_hash = graph.content_hash()
    latest = dataset.latest_version
    if latest is not None and latest.content_hash == content_hash:
        return latest, False
    stats = compute_stats(build_networkx(graph))
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=(latest.number + 1) if latest else 1,
        content_hash=content_hash,
        source_format=fmt,
        node_count=stats.summary["nodes"],
        edge_count=stats.summary["edges"],
        attribute_classes={"nodes": graph.node_classes, "edges": graph.edge_classes},
        stats_summary=stats.summary,
        stats_blob=DatasetVersion.pack(stats.to_json()),
        graph_blob=DatasetVersion.pack(graph.canonical()),
        created_by=actor,
    )
    audit_record(
        "dataset.version_uploaded",
        actor=actor,
        target=version,
        payload={
            "dataset": dataset.slug,
            "version": version.number,
            "content_hash": content_hash,
            "nodes": version.node_count,
            "edges": version.edge_count,
            "format": fmt,
        },
    )
    return version, True


def dataset_create(
    *,
    actor: AbstractBaseUser,
    slug: str,
    name: str,
    files: dict[str, UploadedFile],
    description: str = "",
    license: str = "internal",
    legal_authority: str = "none",
    structure_class: str = "P2",
) -> DatasetVersion:
    """Create a dataset with its first version."""
    if not SLUG.match(slug or ""):
        raise ValidationFailed("Use lower-case letters, digits and dashes for the slug.", details={"slug": "invalid"})
    if structure_class not in ingest.DATA_CLASSES:
        raise ValidationFailed("structure_class must be P0..P3.", details={"structure_class": "invalid"})
    graph, fmt = parse_upload(files)
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                slug=slug,
                name=name or slug,
                description=description,
                license=license,
                legal_authority=legal_authority,
                structure_class=structure_class,
                created_by=actor,
            )
            audit_record("dataset.created", actor=actor, target=dataset, payload={"slug": slug})
            version, _ = _store_version(dataset, graph, fmt, actor)
    except IntegrityError as exc:
        raise Conflict(f"A dataset with slug {slug!r} already exists.", details={"slug": "taken"}) from exc
    return version


def dataset_version_upload(
    *, actor: AbstractBaseUser, dataset: Dataset, files: dict[str, UploadedFile]
) -> tuple[DatasetVersion, bool]:
    """Add a version; identical content returns the existing version and ``False``."""
    graph, fmt = parse_upload(files)
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        return _store_version(dataset, graph, fmt, actor)


def view_create(
    *,
    actor: AbstractBaseUser,
    slug: str,
    name: str,
    dataset_slug: str,
    fields: list[str],
    hops: int = 1,
    node_filter: dict[str, Any] | None = None,
    edge_filter: dict[str, Any] | None = None,
) -> GraphView:
    if not SLUG.match(slug or ""):
        raise ValidationFailed("Use lower-case letters, digits and dashes for the slug.", details={"slug": "invalid"})
    dataset = Dataset.objects.filter(slug=dataset_slug).first()
    if dataset is None:
        raise NotFound(f"No dataset {dataset_slug!r}.", details={"dataset": "not_found"})
    version = dataset.latest_version
    unknown = [f for f in fields if version is None or version.class_of(f) is None]
    if unknown:
        raise ValidationFailed(
            f"Unknown attribute(s) {unknown} in dataset {dataset_slug!r}.", details={"fields": unknown}
        )
    if not 0 <= hops <= 10:
        raise ValidationFailed("hops must be 0..10.", details={"hops": "out_of_range"})
    try:
        with transaction.atomic():
            view = GraphView.objects.create(
                slug=slug,
                name=name or slug,
                dataset=dataset,
                fields=list(fields),
                hops=hops,
                node_filter=node_filter or {},
                edge_filter=edge_filter or {},
                created_by=actor,
            )
            audit_record(
                "view.created",
                actor=actor,
                target=view,
                payload={"slug": slug, "dataset": dataset_slug, "fields": fields, "tier1": view.is_tier1},
            )
    except IntegrityError as exc:
        raise Conflict(f"A view with slug {slug!r} already exists.", details={"slug": "taken"}) from exc
    return view
