"""Per-process cache of loaded dataset versions: the networkx graph, its integer-indexed CSR
form and the planner statistics. Versions are immutable, so entries never go stale; the cache is bounded by count."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import networkx as nx
from django.conf import settings

from .ingest import Graph
from .models import DatasetVersion
from .stats import CSRGraph, DatasetStats, build_networkx


@dataclass(frozen=True)
class LoadedVersion:
    version_id: int
    content_hash: str
    graph: nx.Graph
    stats: DatasetStats
    attribute_classes: dict[str, dict[str, str]]
    csr: CSRGraph  # the same graph, integer-indexed: traversal and exact checks run on it


_lock = threading.Lock()
_entries: OrderedDict[tuple[int, str], LoadedVersion] = OrderedDict()


def load(version: DatasetVersion) -> LoadedVersion:
    key = (version.pk, version.content_hash)
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
    doc = DatasetVersion.unpack(version.graph_blob)
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    g = build_networkx(graph)
    loaded = LoadedVersion(
        version_id=version.pk,
        content_hash=version.content_hash,
        graph=g,
        csr=CSRGraph.from_networkx(g),
        stats=DatasetStats.from_json(DatasetVersion.unpack(version.stats_blob)),
        attribute_classes=version.attribute_classes,
    )
    with _lock:
        _entries[key] = loaded
        while len(_entries) > settings.TF_GRAPH_CACHE_SIZE:
            _entries.popitem(last=False)
    return loaded


def clear() -> None:
    with _lock:
        _entries.clear()
