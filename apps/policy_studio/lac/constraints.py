"""Graph-shape constraints: checked at plan time on dataset statistics, and exactly on what
the answer reveals before it is returned (pure; no Django).

Every constraint bounds what the subject can *learn*, not what one answer happens to contain
(docs/lac.md). The revealed graph R of a query is built by the engine: T itself when values are
computed on the traversal graph T (degree, PageRank, betweenness, communities); the returned
rows plus the seeds and the BFS paths tying rows to seeds for neighbourhoods; the path for
shortest paths.

* **component size** — nodes in the largest connected component of R. Plan time: a *certain*
  violation when the query is unfiltered, R is not cut by ``top_k`` (always the case for
  computed metrics) and a seed's one-hop neighbourhood alone (degree + 1) exceeds the limit.
* **path length** — the largest hop distance from the nearest seed to a node of R (for shortest
  paths, the path's length). Plan time: requesting more hops than the limit is a violation.
* **degree** — the most edges of R at one node. Plan time: as for component size, a seed whose
  degree exceeds the limit. Cumulatively: the most edges at one node in the union of every
  graph revealed to this subject from this dataset in 24 hours (any view, any version) and R.
* **results** — offset + rows returned must not exceed ``max_results``.
* **cumulative component** — the largest connected component, in the dataset, of every node
  revealed to this subject from this dataset in 24 hours plus R's nodes.

A violation keeps the observed value and a minimal witness for the auditor (``as_dict``); the
subject's form (``subject_dict``) carries the code, the limit and "more than the limit" only.

Costs: the plan checks are O(seeds). The exact checks are one pass over R's edges on integer
ids (degree with ``numpy.bincount``, components with scipy) plus, for the cumulative checks,
one pass over the exposure edges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from .language import Constraint

COMPUTED_METRICS = frozenset({"degree", "pagerank", "betweenness", "communities"})
DEFAULT_RESULT_DENIALS = 5  # per subject and dataset in 24 h, where a constraint applies


@dataclass(frozen=True)
class Violation:
    code: str
    constraint_id: str
    limit: int
    observed: int
    witness: dict[str, Any]
    stage: str  # "plan" or "result"

    def sentence(self) -> str:
        what = {
            "COMPONENT_SIZE_EXCEEDED": "a connected group of {observed} records, more than the {limit} allowed",
            "PATH_LENGTH_EXCEEDED": (
                "a chain {observed} steps long from the starting records, more than the {limit} allowed"
            ),
            "DEGREE_EXCEEDED": "a record linked to {observed} others, more than the {limit} allowed",
            "RESULT_WINDOW_EXCEEDED": "results up to position {observed}, past the first {limit} allowed",
            "CUMULATIVE_COMPONENT_EXCEEDED": (
                "a connected group of {observed} records across your recent queries, "
                "more than the {limit} allowed in 24 hours"
            ),
            "CUMULATIVE_DEGREE_EXCEEDED": (
                "a record linked to {observed} others across your recent queries, more than the {limit} allowed in 24 hours"
            ),
        }.get(self.code)
        if self.code == "DENIAL_RATE_EXCEEDED":
            return (
                f"{self.limit} or more of your queries on this dataset were denied on their results in the last "
                f"24 hours (rule “{self.constraint_id}”); further queries on it are refused until the window passes."
            )
        assert what is not None
        what = what.format(observed=self.observed, limit=self.limit)
        return f"The query would reveal {what} (rule “{self.constraint_id}”, {self._witness_text()})."

    def subject_sentence(self) -> str:
        """The denial as the subject reads it: no observed value, no witness."""
        what = {
            "COMPONENT_SIZE_EXCEEDED": "a connected group of more than {limit} records",
            "PATH_LENGTH_EXCEEDED": "a chain more than {limit} steps long from the starting records",
            "DEGREE_EXCEEDED": "a record linked to more than {limit} others",
            "RESULT_WINDOW_EXCEEDED": "results past the first {limit}",
            "CUMULATIVE_COMPONENT_EXCEEDED": "a connected group of more than {limit} records across your queries in 24 hours",
            "CUMULATIVE_DEGREE_EXCEEDED": "a record linked to more than {limit} others across your queries in 24 hours",
        }.get(self.code)
        if what is None:
            return self.sentence()
        what = what.format(limit=self.limit)
        return f"The query would reveal {what} (rule “{self.constraint_id}”)."

    def _witness_text(self) -> str:
        w = self.witness
        if "hub" in w:
            return f"hub record {w['hub']}"
        if "path" in w:
            return "path " + " → ".join(w["path"])
        if "component_sample" in w:
            return f"group including {', '.join(w['component_sample'])}"
        if "requested_hops" in w:
            return f"{w['requested_hops']} hops requested"
        return ", ".join(f"{k} {v}" for k, v in w.items())

    def as_dict(self) -> dict[str, Any]:
        """The auditor's record: observed value and witness included."""
        return {
            "code": self.code,
            "constraint": self.constraint_id,
            "limit": self.limit,
            "observed": self.observed,
            "witness": self.witness,
            "stage": self.stage,
            "message": self.sentence(),
            "subject_message": self.subject_sentence(),
        }


def subject_dict(violation: dict[str, Any]) -> dict[str, Any]:
    """The subject's form of a stored violation (``Violation.as_dict`` or a view/filter problem):
    constraint violations lose the observed value and the witness."""
    if violation.get("constraint") is None:
        return violation  # about the subject's own request (view, filter, grant): nothing hidden
    return {
        "code": violation["code"],
        "constraint": violation["constraint"],
        "limit": violation["limit"],
        "observed": f"more than {violation['limit']}",
        "stage": violation.get("stage"),
        "message": violation.get("subject_message") or f"More than the {violation['limit']} allowed.",
    }


@dataclass
class PlanFacts:
    """What the planner knows before running anything."""

    seeds: list[str]
    hops: int
    filtered: bool
    top_k: int | None
    offset: int
    seed_stats: dict[str, tuple[int, int, int]]  # seed -> (degree, component id, reach2)
    component_sizes: list[int]
    component_max_degree: list[int]
    component_hub: list[str]
    estimates: dict[str, int] = field(default_factory=dict)
    metric: str = "neighbourhood"
    recent_result_denials: int = 0  # this subject's result-stage denials on this dataset in 24 h

    def estimate(self) -> dict[str, int]:
        comps = {self.seed_stats[s][1] for s in self.seeds if s in self.seed_stats}
        if self.hops == 0:
            reach = len([s for s in self.seeds if s in self.seed_stats])
        else:
            reach = 0
            for c in comps:
                bound = self.component_sizes[c]
                for s in self.seeds:
                    if s in self.seed_stats and self.seed_stats[s][1] == c:
                        degree, _, reach2 = self.seed_stats[s]
                        bound = min(bound, degree + 1 if self.hops == 1 else reach2 if self.hops == 2 else bound)
                reach += bound
        degree = max((self.component_max_degree[c] for c in comps), default=0) if self.hops else 0
        self.estimates = {"component_size": reach, "path_length": self.hops, "degree": degree}
        return self.estimates


def check_plan(constraint: Constraint, facts: PlanFacts) -> list[Violation]:
    out = []
    # top_k cuts what a neighbourhood reveals, never what a computed metric reveals (its values
    # come from the whole traversal graph), so only neighbourhoods skip the certain checks.
    uncut = not facts.filtered and (facts.top_k is None or facts.metric in COMPUTED_METRICS)
    if constraint.max_path_length is not None and facts.hops > constraint.max_path_length:
        out.append(
            Violation(
                "PATH_LENGTH_EXCEEDED",
                constraint.id,
                constraint.max_path_length,
                facts.hops,
                {"requested_hops": facts.hops},
                "plan",
            )
        )
    denials = DEFAULT_RESULT_DENIALS if constraint.max_result_denials is None else constraint.max_result_denials
    if facts.recent_result_denials >= denials:
        # Each result-stage denial answers one question ("more than the limit?"); bound them.
        out.append(
            Violation(
                "DENIAL_RATE_EXCEEDED",
                constraint.id,
                denials,
                facts.recent_result_denials,
                {"window_hours": 24},
                "plan",
            )
        )
    if constraint.max_results is not None and facts.top_k is not None:
        end = facts.offset + facts.top_k
        if end > constraint.max_results:
            out.append(
                Violation(
                    "RESULT_WINDOW_EXCEEDED",
                    constraint.id,
                    constraint.max_results,
                    end,
                    {"offset": facts.offset, "top_k": facts.top_k},
                    "plan",
                )
            )
    if uncut and facts.hops >= 1:
        known = [s for s in facts.seeds if s in facts.seed_stats]
        if known:
            hub = max(known, key=lambda s: (facts.seed_stats[s][0], s))
            degree = facts.seed_stats[hub][0]
            if constraint.max_degree is not None and degree > constraint.max_degree:
                out.append(
                    Violation("DEGREE_EXCEEDED", constraint.id, constraint.max_degree, degree, {"hub": hub}, "plan")
                )
            if constraint.max_component_size is not None and degree + 1 > constraint.max_component_size:
                out.append(
                    Violation(
                        "COMPONENT_SIZE_EXCEEDED",
                        constraint.id,
                        constraint.max_component_size,
                        degree + 1,
                        {"hub": hub, "component_sample": [hub]},
                        "plan",
                    )
                )
    return out


def _index_edges(nodes: list[str], edges: Iterable[tuple[str, str]]) -> tuple[dict[str, int], np.ndarray]:
    index = {n: i for i, n in enumerate(nodes)}
    flat = np.fromiter(map(index.__getitem__, chain.from_iterable(edges)), dtype=np.int64)
    return index, flat


def _components(size: int, flat: np.ndarray) -> np.ndarray:
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    u, v = flat[0::2], flat[1::2]
    matrix = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(size, size))
    labels: np.ndarray = connected_components(matrix, directed=False)[1]
    return labels


def largest_component(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[int, list[str]]:
    """Size of the largest connected component and up to five of its members (sorted).

    Union–find in Python costs ~7 ms at 10k edges; scipy's C implementation on an index array
    costs ~1 ms, which is what keeps the exact checks within the overhead budget."""
    ordered = sorted(set(nodes))
    if not ordered:
        return 0, []
    _, flat = _index_edges(ordered, edges)
    labels = _components(len(ordered), flat)
    biggest = int(np.bincount(labels).argmax())
    members = np.flatnonzero(labels == biggest)
    return len(members), [ordered[i] for i in members[:5]]


@dataclass
class ResultFacts:
    """What the answer reveals, for the exact checks: ``nodes``/``edges`` are the revealed graph
    (``engine.Execution.revealed_*``), ``returned`` the number of rows returned."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    dist: dict[str, int]
    path_to: Any  # callable node -> list[str]
    offset: int
    revealed_degree: dict[str, int] | None = None
    exposure_component: tuple[int, list[str]] | None = None
    returned: int | None = None
    exposure_degree: tuple[int, str | None] | None = None
    # The revealed graph on integer ids (engine.Execution.revealed_pairs/_index) and the id of
    # each int: when given, the checks never touch string ids except to name a witness.
    pairs: Any = None
    index_nodes: Any = None
    ids: Any = None
    far: str | None = None
    observed: dict[str, Any] = field(default_factory=dict)

    def _shape(self) -> tuple[int, list[str], int, str | None]:
        """Largest component (size, sample) and the hub (degree, id) of the revealed graph."""
        if self.pairs is not None and self.index_nodes is not None and self.ids is not None:
            return _shape_of_pairs(self.index_nodes, self.pairs, self.ids)
        nodes = self.nodes
        index, flat = _index_edges(nodes, self.edges)
        if len(index) != len(nodes):  # duplicates: fall back to the generic path
            size, sample = largest_component(nodes, self.edges)
            degrees = Counter(chain.from_iterable(self.edges))
            hub, degree = max(degrees.items(), key=lambda i: (i[1], i[0])) if degrees else (None, 0)
            return size, sample, degree, hub
        labels = _components(len(nodes), flat)
        counts = np.bincount(labels) if len(labels) else np.zeros(1, dtype=np.int64)
        members = np.flatnonzero(labels == int(counts.argmax()))
        per_node = np.bincount(flat, minlength=len(nodes)) if len(flat) else np.zeros(len(nodes), dtype=np.int64)
        top = int(per_node.argmax()) if len(nodes) else 0
        hub = nodes[top] if len(nodes) else None
        return len(members), sorted(nodes[i] for i in members[:5]), int(per_node[top]) if len(nodes) else 0, hub

    def observe(self) -> dict[str, Any]:
        if self.observed:
            return self.observed
        nodes = self.nodes
        size, sample, degree, hub = self._shape()
        if self.revealed_degree:
            degrees = Counter({hub: degree}) if hub is not None else Counter()
            for n, d in self.revealed_degree.items():
                degrees[n] = max(degrees[n], d)
            hub, degree = max(degrees.items(), key=lambda i: (i[1], i[0])) if degrees else (None, 0)
        # A node at the largest distance: given by the engine when R is the whole walk (the last
        # node it visited), else the first such node (C-level max over the revealed nodes).
        far = self.far or (
            max(nodes, key=lambda n: self.dist.get(n, -1))
            if nodes and len(self.dist)
            else (nodes[0] if nodes else None)
        )
        far_dist = self.dist.get(far, 0) if far is not None else 0
        returned = len(nodes) if self.returned is None else self.returned
        self.observed = {
            "component_size": size,
            "component_sample": sample,
            "degree": degree,
            "hub": hub,
            "path_length": far_dist,
            "far_path": self.path_to(far) if far else [],
            "window_end": self.offset + returned,
            "cumulative_component": self.exposure_component[0] if self.exposure_component else None,
            "cumulative_sample": self.exposure_component[1] if self.exposure_component else [],
            "cumulative_degree": self.exposure_degree[0] if self.exposure_degree else None,
            "cumulative_hub": self.exposure_degree[1] if self.exposure_degree else None,
        }
        return self.observed


def check_result(constraint: Constraint, o: dict[str, Any]) -> list[Violation]:
    """Exact checks on what the answer reveals (``ResultFacts.observe()``); works as well on
    observations replayed from the decision log, which is what the simulator does."""
    out = []
    if constraint.max_component_size is not None and o["component_size"] > constraint.max_component_size:
        out.append(
            Violation(
                "COMPONENT_SIZE_EXCEEDED",
                constraint.id,
                constraint.max_component_size,
                o["component_size"],
                {"component_sample": o["component_sample"]},
                "result",
            )
        )
    if constraint.max_path_length is not None and o["path_length"] > constraint.max_path_length:
        out.append(
            Violation(
                "PATH_LENGTH_EXCEEDED",
                constraint.id,
                constraint.max_path_length,
                o["path_length"],
                {"path": o["far_path"]},
                "result",
            )
        )
    if constraint.max_degree is not None and o["degree"] > constraint.max_degree:
        out.append(
            Violation("DEGREE_EXCEEDED", constraint.id, constraint.max_degree, o["degree"], {"hub": o["hub"]}, "result")
        )
    elif (
        constraint.max_degree is not None
        and o.get("cumulative_degree") is not None
        and o["cumulative_degree"] > constraint.max_degree
    ):
        out.append(
            Violation(
                "CUMULATIVE_DEGREE_EXCEEDED",
                constraint.id,
                constraint.max_degree,
                o["cumulative_degree"],
                {"hub": o.get("cumulative_hub")},
                "result",
            )
        )
    if constraint.max_results is not None and o["window_end"] > constraint.max_results:
        out.append(
            Violation(
                "RESULT_WINDOW_EXCEEDED",
                constraint.id,
                constraint.max_results,
                o["window_end"],
                {"window_end": o["window_end"]},
                "result",
            )
        )
    if (
        constraint.max_cumulative_component is not None
        and o["cumulative_component"] is not None
        and o["cumulative_component"] > constraint.max_cumulative_component
    ):
        out.append(
            Violation(
                "CUMULATIVE_COMPONENT_EXCEEDED",
                constraint.id,
                constraint.max_cumulative_component,
                o["cumulative_component"],
                {"component_sample": o["cumulative_sample"]},
                "result",
            )
        )
    return out


def exposure_component(adjacency: Any, seen: set[str]) -> tuple[int, list[str]]:
    """Largest component of the dataset graph induced on ``seen`` (adjacency: node -> neighbours).
    Nodes no longer in this version (exposure from an older version) count as isolated."""
    edges = ((u, v) for u in seen if u in adjacency for v in adjacency[u] if v in seen and u < v)
    return largest_component(seen, edges)


def exposure_degree(prior: Iterable[tuple[str, str]], current: Iterable[tuple[str, str]]) -> tuple[int, str | None]:
    """The most distinct revealed edges at one node over prior exposure ∪ this answer."""
    union = set(prior)
    union.update(current)
    degrees = Counter(chain.from_iterable(union))
    if not degrees:
        return 0, None
    hub, degree = max(degrees.items(), key=lambda i: (i[1], i[0]))
    return degree, hub


def _shape_of_pairs(index_nodes: Any, pairs: Any, ids: Any) -> tuple[int, list[str], int, str | None]:
    """Component and degree of a graph given as CSR-index nodes (sorted, unique) and pairs.
    Works in the version's index space (size n = len(ids)): no relabelling, no hashing, O(n + E)
    in numpy and scipy."""
    nodes = np.asarray(index_nodes, dtype=np.int64)
    if len(nodes) == 0:
        return 0, [], 0, None
    if len(pairs) == 0:
        return 1, [ids[int(nodes[0])]], 0, ids[int(nodes[-1])]
    n = len(ids)
    labels = _components_of(n, pairs)[nodes]
    counts = np.bincount(labels)
    members = nodes[labels == int(counts.argmax())]
    per_node = np.bincount(pairs.ravel(), minlength=n)
    top = int(n - 1 - per_node[::-1].argmax())  # ties go to the larger id
    return len(members), [ids[int(i)] for i in members[:5]], int(per_node[top]), ids[top]


def exposure_degree_pairs(prior: Any, current: Any, ids: Any) -> tuple[int, str | None]:
    """``exposure_degree`` on CSR-index pairs (each u < v): distinct edges of prior ∪ current,
    per node. ``current`` is already distinct; prior edges are counted only where new."""
    n = len(ids)
    prior = np.asarray(prior, dtype=np.int64).reshape(-1, 2)
    current = np.asarray(current, dtype=np.int64).reshape(-1, 2)
    if len(prior) == 0 and len(current) == 0:
        return 0, None
    per_node = np.bincount(current.ravel(), minlength=n) if len(current) else np.zeros(n, dtype=np.int64)
    if len(prior):
        keys = np.unique(np.minimum(prior[:, 0], prior[:, 1]) * n + np.maximum(prior[:, 0], prior[:, 1]))
        if len(current):
            keys = keys[~np.isin(keys, current[:, 0] * n + current[:, 1], assume_unique=True)]
        per_node += np.bincount(np.concatenate([keys // n, keys % n]), minlength=n)
    top = int(n - 1 - per_node[::-1].argmax())
    return int(per_node[top]), ids[top]


def exposure_component_csr(matrix: Any, seen: Any, ids: Any) -> tuple[int, list[str]]:
    """``exposure_component`` on the version's CSR matrix: the sub-graph induced on ``seen``,
    selected with a node mask over the stored edges (vectorized, one pass over them)."""
    n = len(ids)
    nodes = np.asarray(seen, dtype=np.int64)
    if len(nodes) == 0:
        return 0, []
    mask = np.zeros(n, dtype=bool)
    mask[nodes] = True
    rows = _slot_rows(matrix)
    cols = matrix.indices
    keep = mask[rows] & mask[cols]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    sub = csr_matrix((np.ones(int(keep.sum()), dtype=np.int8), cols[keep], indptr), shape=(n, n))
    labels = connected_components(sub, directed=False)[1]
    inside = np.flatnonzero(mask)
    own = labels[inside]
    members = inside[own == int(np.bincount(own).argmax())]
    return len(members), [ids[int(i)] for i in members[:5]]


_ROWS: dict[int, Any] = {}


def _slot_rows(matrix: Any) -> Any:
    """The row of every stored entry of a CSR matrix (cached per matrix object)."""
    key = id(matrix)
    cached = _ROWS.get(key)
    if cached is None or cached[0] is not matrix:
        rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        if len(_ROWS) > 64:
            _ROWS.clear()
        _ROWS[key] = cached = (matrix, rows)
    return cached[1]


def _components_of(n: int, pairs: Any) -> Any:
    """Component label of every index in 0..n-1 for the undirected edges ``pairs`` (u < v):
    one COO→CSR conversion in C and scipy's undirected labelling (measured faster at 100k
    edges than building both directions or the strong-components algorithm)."""
    matrix = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    return connected_components(matrix, directed=False)[1]
