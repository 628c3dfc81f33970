"""Query execution on networkx (pure; no Django). Seeded and deterministic.

A query walks from its seeds up to ``hops`` steps along edges that pass the edge filter,
entering nodes that pass the node filter (seeds always count). The *traversal graph* T is the
visited nodes and the edges among them that pass the edge filter; the metric is computed on
it, ranked, and ``offset``/``top_k`` select what is returned.

What a query *reveals* is not only what it returns (docs/lac.md): a value computed on T
reveals T, so for degree, PageRank, betweenness and communities the revealed graph is T
itself; for neighbourhoods it is the returned rows, the edges among them, and the BFS-tree
paths that tie each row to a seed (a row at hop 1 says "I am linked to a seed", even when the
seed is paged away); for shortest paths it is the path. ``Execution`` carries the revealed
graph for the exact checks and the cumulative exposure, and ``groups`` (T's connected
components) for minimization rules that count rows.

Filter values may name a release of the value instead of the value: a bucket label
(``"[30, 40)"``, ``"< 18"``, ``">= 65"``) matches numbers in it, and a period (``"2026"``,
``"2026-06"``) matches dates in it. That is how filters stay no finer than minimization.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .stats import CSRGraph

Filter = dict[str, Any]


_BUCKET = re.compile(r"^\[(-?[0-9.]+(?:e-?[0-9]+)?), (-?[0-9.]+(?:e-?[0-9]+)?)\)$")
_OPEN_BUCKET = re.compile(r"^(<|>=) (-?[0-9.]+(?:e-?[0-9]+)?)$")
_PERIOD = re.compile(r"^[0-9]{4}(-[0-9]{2})?$")


def release_test(wanted: Any) -> Callable[[Any], bool]:
    """A test for one filter value: equality, or membership in a bucket or a period."""
    if isinstance(wanted, str):
        if m := _BUCKET.match(wanted):
            lo, hi = float(m.group(1)), float(m.group(2))
            return lambda v: _number(v) and lo <= v < hi
        if m := _OPEN_BUCKET.match(wanted):
            edge = float(m.group(2))
            return (lambda v: _number(v) and v < edge) if m.group(1) == "<" else (lambda v: _number(v) and v >= edge)
        if _PERIOD.match(wanted):
            size = len(wanted)
            return lambda v: v == wanted or (isinstance(v, str) and len(v) > size and v[:size] == wanted)
    return lambda v: v == wanted


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def matcher(flt: Filter) -> Callable[[dict[str, Any]], bool]:
    if not flt:
        return lambda attrs: True
    exact: dict[str, set[Any]] = {}
    tests: dict[str, list[Callable[[Any], bool]]] = {}
    for key, raw in flt.items():
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, str) and (_BUCKET.match(value) or _OPEN_BUCKET.match(value) or _PERIOD.match(value)):
                tests.setdefault(key, []).append(release_test(value))
            else:
                exact.setdefault(key, set()).add(value)
    keys = sorted(set(exact) | set(tests))

    def ok(attrs: dict[str, Any]) -> bool:
        for key in keys:
            v = attrs.get(key)
            if key in exact and v in exact[key]:
                continue
            if any(t(v) for t in tests.get(key, ())):
                continue
            return False
        return True

    return ok


@dataclass
class Execution:
    nodes: list[str]
    edges: list[tuple[str, str]]
    dist: dict[str, int]
    parent: dict[str, str | None]
    values: dict[str, float | int]
    visited: int = 0
    # What the answer reveals (see the module docstring), for the exact and cumulative checks.
    revealed_nodes: list[str] = field(default_factory=list)
    revealed_edges: list[tuple[str, str]] = field(default_factory=list)
    # Returned node -> its group (a connected component of T), for row-counting minimization.
    groups: dict[str, int] = field(default_factory=dict)
    # The revealed edges as an E × 2 array of CSR indices (when executed on a CSRGraph), so the
    # exact checks never map ids to ints.
    revealed_pairs: Any = None
    revealed_index: Any = None  # the revealed nodes as CSR indices (array), likewise
    far_node: str | None = None  # a revealed node at the largest hop distance, when known for free

    def path_to(self, node: str) -> list[str]:
        path = [node]
        while (up := self.parent.get(path[-1])) is not None:
            path.append(up)
        return list(reversed(path))


def traverse(
    g: nx.Graph, seeds: list[str], hops: int, node_filter: Filter, edge_filter: Filter
) -> tuple[dict[str, int], dict[str, str | None]]:
    node_ok, edge_ok = matcher(node_filter), matcher(edge_filter)
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


def traverse_csr(
    g: nx.Graph, csr: CSRGraph, seeds: list[str], hops: int, node_filter: Filter, edge_filter: Filter
) -> tuple[dict[int, int], dict[int, int]]:
    """The same walk as ``traverse`` on integer ids (neighbours are pre-sorted by id)."""
    node_ok = matcher(node_filter) if node_filter else None
    edge_ok = matcher(edge_filter) if edge_filter else None
    ids, indptr, indices = csr.ids, csr.indptr, csr.indices
    dist: dict[int, int] = {}
    parent: dict[int, int] = {}
    queue: deque[int] = deque()
    for s in sorted(set(seeds)):
        if s in csr.index:
            i = csr.index[s]
            dist[i], parent[i] = 0, -1
            queue.append(i)
    while queue:
        u = queue.popleft()
        du = dist[u]
        if du >= hops:
            continue
        for v in indices[indptr[u] : indptr[u + 1]]:
            if v in dist:
                continue
            if edge_ok is not None and not edge_ok(g.adj[ids[u]][ids[v]]):
                continue
            if node_ok is not None and not node_ok(g.nodes[ids[v]]):
                continue
            dist[v], parent[v] = du + 1, u
            queue.append(v)
    return dist, parent


def _induced_edges(g: nx.Graph, nodes: set[str], edge_filter: Filter) -> list[tuple[str, str]]:
    edge_ok = matcher(edge_filter)
    out = []
    for u in nodes:
        for v, data in g.adj[u].items():
            if u < v and v in nodes and edge_ok(data):
                out.append((u, v))
    out.sort()
    return out


def _induced_pairs(g: nx.Graph, csr: CSRGraph, members: np.ndarray, edge_filter: Filter) -> np.ndarray:
    """T's edges as sorted (u < v) CSR index pairs: a sparse sub-matrix, not a Python loop."""
    if len(members) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    sub = csr.matrix[members][:, members].tocoo()
    upper = sub.row < sub.col
    pairs = np.stack([members[sub.row[upper]], members[sub.col[upper]]], axis=1).astype(np.int64)
    if edge_filter:
        ok = matcher(edge_filter)
        ids = csr.ids
        keep = [ok(g.adj[ids[a]][ids[b]]) for a, b in pairs.tolist()]
        pairs = pairs[np.array(keep, dtype=bool)] if keep else pairs
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order]


COMPUTED_METRICS = frozenset({"degree", "pagerank", "betweenness", "communities"})


def execute(g: nx.Graph, spec: dict[str, Any], csr: CSRGraph | None = None) -> Execution:
    """Run ``spec`` on ``g``. With ``csr`` (the cache keeps one per version) the walk and the
    induced edges run on integer ids and the revealed graph comes back as index pairs too; the
    outputs are identical either way (a replay without the cache gets the same answer)."""
    seeds, hops = spec["seeds"], spec["hops"]
    if csr is not None:
        idist, iparent = traverse_csr(g, csr, seeds, hops, spec["node_filter"], spec["edge_filter"])
        ids = csr.ids
        dist = {ids[i]: d for i, d in idist.items()}
        parent: dict[str, str | None] = {ids[i]: (ids[p] if p >= 0 else None) for i, p in iparent.items()}
    else:
        dist, parent = traverse(g, seeds, hops, spec["node_filter"], spec["edge_filter"])
    visited = len(dist)
    metric = spec["metric"]
    if metric == "shortest_paths":
        target = spec["target"]
        if target not in dist:
            present = sorted(n for n in set(seeds) if n in dist)
            return Execution([], [], {}, {}, {}, visited=visited, revealed_nodes=present)
        chain = Execution([], [], dist, parent, {}).path_to(target)
        dist = {n: dist[n] for n in chain}
        parent = {n: parent[n] for n in chain}
        edges = sorted(tuple(sorted(pair)) for pair in pairwise(chain))
        return Execution(
            chain,
            edges,
            dist,
            parent,
            {n: dist[n] for n in chain},
            visited=visited,
            revealed_nodes=list(chain),
            revealed_edges=list(edges),
            groups=dict.fromkeys(chain, 0),
            revealed_pairs=csr.pairs_of(edges) if csr is not None else None,
            revealed_index=np.array([csr.index[n] for n in chain], dtype=np.int64) if csr is not None else None,
        )

    members = set(dist)
    pairs = None
    if csr is not None:
        member_ids = np.array(sorted(idist), dtype=np.int64)
        pairs = _induced_pairs(g, csr, member_ids, spec["edge_filter"])
        all_edges = [(ids[a], ids[b]) for a, b in pairs.tolist()]
    else:
        all_edges = _induced_edges(g, members, spec["edge_filter"])
    values = _metric_values(metric, members, all_edges, dist, spec.get("random_seed", 7))
    if metric == "neighbourhood":
        ranked = sorted(members, key=lambda n: (dist[n], n))
    else:
        ranked = sorted(members, key=lambda n: (-values[n], n))
    start = spec.get("offset", 0)
    stop = start + spec["top_k"] if spec.get("top_k") else None
    chosen = ranked[start:stop]
    edges = all_edges
    if len(chosen) < len(ranked):
        keep = set(chosen)
        edges = [(u, v) for u, v in all_edges if u in keep and v in keep]
    labels = components(sorted(members), all_edges) if pairs is None else _labels(csr, member_ids, pairs)
    execution = Execution(chosen, edges, dist, parent, values, visited=visited, groups={n: labels[n] for n in chosen})
    if metric in COMPUTED_METRICS:
        # The values are computed on T, so they reveal T (a star centre's PageRank inverts to its
        # degree; community indexes describe groups larger than what is returned).
        execution.revealed_nodes, execution.revealed_edges = sorted(members), all_edges
        execution.far_node = next(reversed(dist)) if dist else None  # BFS order: the last is farthest
        if csr is not None:
            execution.revealed_pairs, execution.revealed_index = pairs, member_ids
    else:
        execution.revealed_nodes, execution.revealed_edges = _implied(chosen, edges, parent, seeds, dist)
        if csr is not None:
            execution.revealed_pairs = csr.pairs_of(execution.revealed_edges)
            index = csr.index
            execution.revealed_index = np.array([index[n] for n in execution.revealed_nodes], dtype=np.int64)
    return execution


def _labels(csr: CSRGraph, member_ids: np.ndarray, pairs: np.ndarray) -> dict[str, int]:
    """Component label per member of T, from index pairs (members are sorted)."""
    if len(member_ids) == 0:
        return {}
    local = np.searchsorted(member_ids, pairs)
    n = len(member_ids)
    matrix = coo_matrix((np.ones(len(local), dtype=np.int8), (local[:, 0], local[:, 1])), shape=(n, n))
    found = connected_components(matrix, directed=False)[1]
    ids = csr.ids
    return {ids[m]: int(label) for m, label in zip(member_ids.tolist(), found.tolist(), strict=True)}


def _implied(
    chosen: list[str],
    edges: list[tuple[str, str]],
    parent: dict[str, str | None],
    seeds: list[str],
    dist: dict[str, int],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Returned rows, the seeds the subject named, the edges among the rows, and the BFS-tree
    path from each row back to its seed: a row at hop d says a chain of d links ties it to a
    seed, whether or not the seed or the middle of the chain is on the page."""
    nodes = {n for n in seeds if n in dist} | set(chosen)
    implied = set(edges)
    for n in chosen:
        child = n
        while (up := parent.get(child)) is not None:
            pair = (child, up) if child < up else (up, child)
            if pair in implied:
                break
            implied.add(pair)
            nodes.add(up)
            child = up
    return sorted(nodes), sorted(implied)


def components(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Connected-component label per node (scipy on an index array)."""
    if not nodes:
        return {}
    index = {n: i for i, n in enumerate(nodes)}
    if not edges:
        return {n: i for i, n in enumerate(nodes)}
    u = np.fromiter((index[a] for a, _ in edges), dtype=np.int64, count=len(edges))
    v = np.fromiter((index[b] for _, b in edges), dtype=np.int64, count=len(edges))
    matrix = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(len(nodes), len(nodes)))
    labels = connected_components(matrix, directed=False)[1]
    return {n: int(labels[i]) for i, n in enumerate(nodes)}


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
    """The result document before minimization: requested attributes only. Attributes are
    looked up in their own scope: a node field from the node, an edge field from the edge."""
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
    # ``groups`` is consumed by minimization (rows are counted per group) and never returned.
    return {"metric": metric, "nodes": nodes, "edges": edges, "groups": dict(execution.groups)}


def attribute_lookups(g: nx.Graph) -> tuple[Callable[[Any], dict[str, Any]], Callable[[Any, Any], dict[str, Any]]]:
    """A node's and an edge's stored attributes, for minimization rules that must look at
    values the result does not return (a filtered attribute that is not a field)."""
    return (lambda n: dict(g.nodes[n]) if n in g else {}), (
        lambda s, t: dict(g.edges[s, t]) if g.has_edge(s, t) else {}
    )
