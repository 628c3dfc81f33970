"""Replay fixtures (pure): a seeded, pinned generator of replay cases at chosen sizes and
shapes, and a runner that executes one case and records the digest of every transform's
output, so a run can be compared with its golden step by step.

``GENERATOR_VERSION`` pins the generator: a case is (shape, size, seed, metric) under one
generator version; changing the generator's output means bumping the version, never
silently changing what a golden means."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from apps.core.crypto.canonical import digest
from apps.graphs import engine
from apps.graphs.ingest import Graph
from apps.graphs.stats import build_networkx

GENERATOR_VERSION = "tf-fixtures-1"
SHAPES = ("chain", "star", "grid", "random")
METRICS = ("neighbourhood", "degree", "pagerank", "betweenness", "communities")
# The transform chain of a fixture run, in order; each step's output digest is recorded.
STEPS = ("source", "expand", "metric", "rank", "select")


@dataclass(frozen=True)
class Case:
    shape: str
    size: int
    seed: int
    metric: str = "pagerank"
    # A deliberately nondeterministic step (testing the flake detector): that step's output
    # gets noise from the OS random source on every run.
    nondeterministic_step: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r} (one of {', '.join(SHAPES)})")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}")
        if not 2 <= self.size <= 20000:
            raise ValueError("size must be between 2 and 20000 nodes")
        if self.nondeterministic_step and self.nondeterministic_step not in STEPS:
            raise ValueError(f"unknown step {self.nondeterministic_step!r}")


def _edges(shape: str, size: int, rng: random.Random) -> list[tuple[int, int]]:
    if shape == "chain":
        return [(i, i + 1) for i in range(size - 1)]
    if shape == "star":
        return [(0, i) for i in range(1, size)]
    if shape == "grid":
        side = max(int(size**0.5), 1)
        out = []
        for i in range(size):
            if (i + 1) % side and i + 1 < size:
                out.append((i, i + 1))
            if i + side < size:
                out.append((i, i + side))
        return out
    # random: a spanning tree (connected) plus about one extra edge per node.
    out = [(rng.randrange(i), i) for i in range(1, size)]
    for _ in range(size):
        a, b = rng.randrange(size), rng.randrange(size)
        if a != b:
            out.append((min(a, b), max(a, b)))
    return sorted(set(out))


def generate(case: Case) -> dict[str, Any]:
    """The canonical graph document of ``case`` (same case, same bytes, on any machine)."""
    # Seeded on purpose: fixtures must be reproducible, not secret.
    rng = random.Random(f"{GENERATOR_VERSION}:{case.shape}:{case.size}:{case.seed}")  # noqa: S311
    cities = ("Berlin", "Lyon", "Turin", "Porto", "Ghent")
    nodes = [
        {"id": f"n{i:05d}", "type": "person", "city": cities[rng.randrange(len(cities))], "age": 18 + rng.randrange(60)}
        for i in range(case.size)
    ]
    edges = [
        {"source": f"n{a:05d}", "target": f"n{b:05d}", "type": "call", "weight": rng.randrange(1, 10)}
        for a, b in _edges(case.shape, case.size, rng)
    ]
    graph = Graph({"city": "P3", "age": "P2"}, {"weight": "P3"}, nodes, edges)
    return graph.canonical()


def spec_for(case: Case) -> dict[str, Any]:
    return {
        "seeds": ["n00000"],
        "hops": int(case.params.get("hops", 3)),
        "node_filter": {},
        "edge_filter": {},
        "metric": case.metric,
        "top_k": int(case.params.get("top_k", 10)),
        "offset": 0,
        "fields": ["city"],
        "random_seed": case.seed,
    }


def _noise(values: Any) -> Any:
    """What a nondeterministic step looks like: output that changes from run to run."""
    salt = int.from_bytes(random.SystemRandom().randbytes(4), "big")
    return {"output": values, "noise": salt}


def run(case: Case, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute ``case`` and return ``{"steps": {step: digest}, "outputs": {...}}``."""
    doc = doc if doc is not None else generate(case)
    graph = Graph(doc["attributes"]["nodes"], doc["attributes"]["edges"], doc["nodes"], doc["edges"])
    spec = spec_for(case)
    execution = engine.execute(build_networkx(graph), spec)
    rendered = engine.render(build_networkx(graph), execution, spec["fields"], spec["metric"])
    outputs = {
        "source": graph.content_hash(),
        "expand": sorted(execution.dist.items()),
        "metric": sorted(execution.values.items()),
        "rank": list(execution.nodes),
        "select": rendered,
    }
    noisy = case.nondeterministic_step
    if noisy:
        # The noise flows downstream like a real nondeterministic transform's output would.
        for step in STEPS[STEPS.index(noisy) :]:
            outputs[step] = _noise(outputs[step])
    steps = {step: digest(outputs[step]) for step in STEPS}
    return {
        "steps": steps,
        "outputs": {"nodes": list(execution.nodes), "result_digest": steps["select"]},
        "digest": hashlib.sha256("".join(steps[s] for s in STEPS).encode()).hexdigest(),
    }


def first_differing_step(expected: dict[str, str], actual: dict[str, str]) -> str | None:
    """The first transform (in chain order) whose output digest differs: the root of a drift."""
    return next((s for s in STEPS if expected.get(s) != actual.get(s)), None)


def varying_step(runs: list[dict[str, str]]) -> str | None:
    """Across repeated runs of the same inputs and seed, the first transform whose output
    digest is not always the same: the nondeterministic step (None: the runs agree)."""
    return next((s for s in STEPS if len({r.get(s) for r in runs}) > 1), None)
