"""Query execution on networkx (pure; no Django). Seeded and deterministic.

A query walks from its seeds up to ``hops`` steps along edges that pass the edge filter,
entering nodes that pass the node filter (seeds always count). The *result graph* is the
visited nodes and the edges among them that pass the edge filter; the metric is computed on
it, ranked, and ``offset``/``top_k`` select what is returned. ``Execution`` keeps what the
exact graph-constraint checks need: the returned nodes and edges, each node's hop distance
from the nearest seed, and BFS parents to rebuild a witness path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import networkx as nx

Filter = dict[str, Any]


def _matcher(flt: Filter) -> Callable[[dict[str, Any]], bool]:
    if not flt:
        return lambda attrs: True
    wanted = {k: set(v) if isinstance(v, list) else {v} for k, v in flt.items()}
    return lambda attrs: all(attrs.get(k) in values for k, values in wanted.items())


@dataclass
class Execution:
    nodes: list[str]
    edges: list[tuple[str, str]]
    dist: dict[str, int]
    parent: dict[str, str | None]
    values: dict[str, float | int]
    visited: int = 0

    def path_to(self, node: str) -> list[str]:
        path = [node]
        while (up := self.parent.get(path[-1])) is not None:
            path.append(up)
        return list(reversed(path))


def traverse(
    g: nx.Graph, seeds: list[str], hops: int, node_filter: Filter, edge_filter: Filter
) -> tuple[dict[str, int], dict[str, str | None]]:
    node_ok, edge_ok = _matcher(node_filter), _matcher(edge_filter)
    dist: dict[str, int] = {}
    parent: dict[str, str | None] = {}
    queue: deque[str] = deque()
    for s in sorted(set(seeds)):
        if s in g:
            dist[s], parent[s] = 0, None
            queue.append(s)
    while queue:
        u = queue.popleft()
        if dist[u] >= hops:
            continue
        for v in sorted(g.adj[u]):
            if v in dist or not edge_ok(g.adj[u][v]) or not node_ok(g.nodes[v]):
                continue
            dist[v], parent[v] = dist[u] + 1, u
            queue.append(v)
    return dist, parent


def _induced_edges(g: nx.Graph, nodes: set[str], edge_filter: Filter) -> list[tuple[str, str]]:
    edge_ok = _matcher(edge_filter)
    out = []
    for u in nodes:
        for v, data in g.adj[u].items():
            if u < v and v in nodes and edge_ok(data):
                out.append((u, v))
    out.sort()
    return out


def execute(g: nx.Graph, spec: dict[str, Any]) -> Execution:
    seeds, hops = spec["seeds"], spec["hops"]
    dist, parent = traverse(g, seeds, hops, spec["node_filter"], spec["edge_filter"])
    visited = len(dist)
    metric = spec["metric"]
    if metric == "shortest_paths":
        target = spec["target"]
        if target not in dist:
            return Execution([], [], {}, {}, {}, visited=visited)
        chain = Execution([], [], dist, parent, {}).path_to(target)
        dist = {n: dist[n] for n in chain}
        parent = {n: parent[n] for n in chain}
        edges = sorted(tuple(sorted(pair)) for pair in pairwise(chain))
        return Execution(chain, edges, dist, parent, {n: dist[n] for n in chain}, visited=visited)

    members = set(dist)
    edges = _induced_edges(g, members, spec["edge_filter"])
    values = _metric_values(metric, members, edges, dist, spec.get("random_seed", 7))
    if metric == "neighbourhood":
        ranked = sorted(members, key=lambda n: (dist[n], n))
    else:
        ranked = sorted(members, key=lambda n: (-values[n], n))
    start = spec.get("offset", 0)
    stop = start + spec["top_k"] if spec.get("top_k") else None
    chosen = ranked[start:stop]
    if len(chosen) < len(ranked):
        keep = set(chosen)
        edges = [(u, v) for u, v in edges if u in keep and v in keep]
    return Execution(chosen, edges, dist, parent, values, visited=visited)


def _metric_values(
    metric: str, members: set[str], edges: list[tuple[str, str]], dist: dict[str, int], seed: int
) -> dict[str, float | int]:
    if metric == "neighbourhood":
        return {n: dist[n] for n in members}
    sub = nx.Graph()
    sub.add_nodes_from(sorted(members))
    sub.add_edges_from(edges)
    if metric == "degree":
        return dict(sub.degree())
    if metric == "pagerank":
        if sub.number_of_edges() == 0:
            return dict.fromkeys(members, 1.0 / max(len(members), 1))
        return {n: round(v, 9) for n, v in nx.pagerank(sub, alpha=0.85, tol=1e-9, max_iter=1000).items()}
    if metric == "betweenness":
        k = min(len(members), 256) if len(members) > 256 else None
        return {n: round(v, 12) for n, v in nx.betweenness_centrality(sub, k=k, seed=seed).items()}
    if metric == "communities":
        found = nx.community.louvain_communities(sub, seed=seed) if members else []
        ordered = sorted((sorted(c) for c in found), key=lambda c: (-len(c), c[0]))
        return {n: index for index, community in enumerate(ordered) for n in community}
    raise ValueError(f"unknown metric {metric}")


def render(g: nx.Graph, execution: Execution, fields: list[str], metric: str) -> dict[str, Any]:
    """The result document before minimization: requested attributes only."""
    nodes = []
    for n in execution.nodes:
        attrs = g.nodes[n]
        record = {"id": n, "type": attrs.get("type", "node"), "hops": execution.dist.get(n)}
        if metric != "neighbourhood" and n in execution.values:
            record["value"] = execution.values[n]
        for f in fields:
            if f in attrs:
                record[f] = attrs[f]
        nodes.append(record)
    edges = []
    for u, v in execution.edges:
        attrs = g.adj[u][v]
        record = {"source": u, "target": v, "type": attrs.get("type", "link")}
        for f in fields:
            if f in attrs:
                record[f] = attrs[f]
        edges.append(record)
    return {"metric": metric, "nodes": nodes, "edges": edges}
