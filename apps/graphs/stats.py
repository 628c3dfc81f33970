"""Planner statistics for a graph, computed once at upload (pure; networkx only).

What is stored, and why the planner can trust it:

* ``degree[v]`` — exact degree of each node (undirected, parallel edges merged).
* ``component[v]`` and ``component_sizes`` — exact connected components.
* ``component_max_degree[c]`` — the largest degree inside each component.
* ``reach2[v]`` — an upper bound on how many nodes lie within two hops of v:
  ``1 + deg(v) + Σ_{u∈N(v)} (deg(u) − 1)``, capped by v's component size. Exact two-hop
  neighbourhoods cost Σ deg² (quadratic at hubs); this bound costs one pass over the edges.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx

from .ingest import Graph


def build_networkx(graph: Graph) -> nx.Graph:
    g = nx.Graph()
    for node in graph.nodes:
        g.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
    for edge in graph.edges:
        attrs = {k: v for k, v in edge.items() if k not in ("source", "target")}
        g.add_edge(edge["source"], edge["target"], **attrs)
    return g


@dataclass(frozen=True)
class NodeStats:
    degree: int
    component: int
    reach2: int


@dataclass
class DatasetStats:
    summary: dict[str, Any]
    nodes: dict[str, NodeStats]
    component_sizes: list[int]
    component_max_degree: list[int]
    component_hub: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "nodes": {k: [v.degree, v.component, v.reach2] for k, v in self.nodes.items()},
            "component_sizes": self.component_sizes,
            "component_max_degree": self.component_max_degree,
            "component_hub": self.component_hub,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetStats:
        return cls(
            summary=data["summary"],
            nodes={k: NodeStats(*v) for k, v in data["nodes"].items()},
            component_sizes=data["component_sizes"],
            component_max_degree=data["component_max_degree"],
            component_hub=data["component_hub"],
        )


def compute_stats(g: nx.Graph) -> DatasetStats:
    degree = dict(g.degree())
    components = sorted(nx.connected_components(g), key=lambda c: (-len(c), min(c)))
    comp_of: dict[str, int] = {}
    sizes, max_deg, hubs = [], [], []
    for index, members in enumerate(components):
        hub = max(members, key=lambda n: (degree[n], n))
        sizes.append(len(members))
        max_deg.append(degree[hub])
        hubs.append(hub)
        for node in members:
            comp_of[node] = index
    neighbour_degree_sum = dict.fromkeys(g.nodes, 0)
    for u, v in g.edges():
        neighbour_degree_sum[u] += degree[v] - 1
        neighbour_degree_sum[v] += degree[u] - 1
    nodes = {
        n: NodeStats(
            degree=degree[n],
            component=comp_of[n],
            reach2=min(1 + degree[n] + neighbour_degree_sum[n], sizes[comp_of[n]]),
        )
        for n in g.nodes
    }
    histogram = Counter(degree.values())
    hub = max(degree, key=lambda n: (degree[n], n)) if degree else None
    summary = {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "max_degree": degree[hub] if hub is not None else 0,
        "max_degree_node": hub,
        "degree_histogram": {str(k): histogram[k] for k in sorted(histogram)},
        "components": len(components),
        "largest_component": sizes[0] if sizes else 0,
        "component_size_histogram": {str(k): v for k, v in sorted(Counter(sizes).items())},
    }
    return DatasetStats(summary, nodes, sizes, max_deg, hubs)


@dataclass(frozen=True)
class CSRGraph:
    """An integer-indexed compressed-sparse-row form of a dataset version's graph.

    Node ids are sorted, so integer order is id order: neighbour lists are already in the order
    the engine walks them, and ``u < v`` means the same for ints and ids. The traversal and the
    exact constraint checks run on these arrays; ids are looked up only for what is returned."""

    ids: list[str]
    index: dict[str, int]
    indptr: list[int]
    indices: list[int]
    matrix: Any  # scipy.sparse.csr_matrix (n × n, symmetric)

    @classmethod
    def from_networkx(cls, g: nx.Graph) -> CSRGraph:
        import numpy as np
        from scipy.sparse import csr_matrix

        ids = sorted(g.nodes)
        index = {n: i for i, n in enumerate(ids)}
        rows: list[int] = []
        cols: list[int] = []
        for u, v in g.edges():
            a, b = index[u], index[v]
            rows += (a, b)
            cols += (b, a)
        n = len(ids)
        matrix = csr_matrix(
            (np.ones(len(rows), dtype=np.int8), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
            shape=(n, n),
        )
        matrix.sort_indices()
        return cls(ids, index, matrix.indptr.tolist(), matrix.indices.tolist(), matrix)

    def pairs_of(self, edges: list[tuple[str, str]]) -> Any:
        """Int pairs (E × 2 array) for id pairs, skipping ids not in this version."""
        import numpy as np

        index = self.index
        flat = [index[x] for u, v in edges if u in index and v in index for x in (u, v)]
        return np.array(flat, dtype=np.int64).reshape(-1, 2)
