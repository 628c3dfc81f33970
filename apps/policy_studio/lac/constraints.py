"""Graph-shape constraints: checked at plan time on dataset statistics, and exactly on the
result before it is returned (pure; no Django).

Semantics (the result graph R = the nodes and edges a query returns):

* **component size** — the number of nodes in the largest connected component of R.
  Plan time: a *certain* violation when the query has no filters and no top_k and a seed's
  one-hop neighbourhood alone (degree + 1) exceeds the limit; otherwise an upper-bound
  estimate (component size, capped by the two-hop reach bound) is reported.
* **path length** — how far the result reaches from the seeds: the largest hop distance from
  the nearest seed to any returned node (for shortest paths, the path's length). Plan time:
  requesting more hops than the limit is itself a violation (witness: the requested hops).
* **degree** — the largest number of result edges at one node of R; for the degree metric, the
  largest degree value revealed. Plan time: a certain violation when an unfiltered, uncut
  query expands a seed whose degree exceeds the limit (witness: that hub).
* **results** — offset + the number returned must not exceed ``max_results`` (stops paging past
  a top-k limit).
* **cumulative component** — the largest connected component, in the dataset, of every node this
  subject received from this dataset in the last 24 hours plus this result (stops harvesting a
  component through many small queries).

Costs: the plan checks are O(seeds). The exact checks are one pass over R's edges (degree and
connected components, in scipy) plus, for the cumulative check, one pass over the adjacency of the
subject's exposure set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .language import Constraint


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
        }[self.code].format(observed=self.observed, limit=self.limit)
        return f"The query would reveal {what} (rule “{self.constraint_id}”, {self._witness_text()})."

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
        return {
            "code": self.code,
            "constraint": self.constraint_id,
            "limit": self.limit,
            "observed": self.observed,
            "witness": self.witness,
            "stage": self.stage,
            "message": self.sentence(),
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
    uncut = not facts.filtered and facts.top_k is None
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
    return connected_components(matrix, directed=False)[1]


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
    """What the executor observed, for the exact checks."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    dist: dict[str, int]
    path_to: Any  # callable node -> list[str]
    offset: int
    revealed_degree: dict[str, int] | None = None
    exposure_component: tuple[int, list[str]] | None = None
    observed: dict[str, Any] = field(default_factory=dict)

    def observe(self) -> dict[str, Any]:
        if self.observed:
            return self.observed
        nodes = self.nodes
        index, flat = _index_edges(nodes, self.edges)
        if len(index) != len(nodes):  # duplicates: fall back to the generic path
            size, sample = largest_component(nodes, self.edges)
            degrees = Counter(chain.from_iterable(self.edges))
        else:
            labels = _components(len(nodes), flat)
            counts = np.bincount(labels) if len(labels) else np.zeros(1, dtype=np.int64)
            biggest = int(counts.argmax())
            members = np.flatnonzero(labels == biggest)
            size, sample = len(members), sorted(nodes[i] for i in members[:5])
            per_node = np.bincount(flat, minlength=len(nodes)) if len(flat) else np.zeros(len(nodes), dtype=np.int64)
            top = int(per_node.argmax()) if len(nodes) else 0
            degrees = Counter({nodes[top]: int(per_node[top])}) if len(nodes) else Counter()
        if self.revealed_degree:
            for n, d in self.revealed_degree.items():
                degrees[n] = max(degrees[n], d)
        hub, degree = max(degrees.items(), key=lambda i: (i[1], i[0])) if degrees else (None, 0)
        far, far_dist = None, 0
        for n in nodes:
            d = self.dist.get(n, 0)
            if far is None or d > far_dist:
                far, far_dist = n, d
        self.observed = {
            "component_size": size,
            "component_sample": sample,
            "degree": degree,
            "hub": hub,
            "path_length": far_dist,
            "far_path": self.path_to(far) if far else [],
            "window_end": self.offset + len(nodes),
            "cumulative_component": self.exposure_component[0] if self.exposure_component else None,
            "cumulative_sample": self.exposure_component[1] if self.exposure_component else [],
        }
        return self.observed


def check_result(constraint: Constraint, o: dict[str, Any]) -> list[Violation]:
    """Exact checks on what the executor observed (``ResultFacts.observe()``); works as well on
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
    """Largest component of the dataset graph induced on ``seen`` (adjacency: node -> neighbours)."""
    edges = ((u, v) for u in seen for v in adjacency[u] if v in seen and u < v)
    return largest_component(seen, edges)
