"""Property-based invariants of LAC, through the real pipeline (issue 9).

Hypothesis draws a random graph (with hubs, so the limits bite) and a random sequence of
queries by one subject within 24 hours — random seeds, hops, metrics, paging, filters exact or
at release granularity, fields — and checks what the subject can reconstruct from every answer
it was given, the way an attacker would:

* no node's degree above D: distinct edges at a node, counting the edges an answer shows, the
  edge from each hop-1 row to the seed when one seed was named, and the degree values the
  degree metric reveals;
* no connected group above the cumulative cap M: every returned node and named seed, connected
  in the dataset;
* no released attribute more precise than its minimization: ages only as 10-year buckets (or
  suppressed), dates only as months, phones only masked.

Examples are bounded so the suite stays short; each example uses its own dataset and subject.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.tenancy import tenant_context
from apps.graphs.services import UploadedFile, dataset_create
from apps.policy_studio.services import policy_save_version
from apps.queries.models import QueryRun
from apps.queries.pipeline import query_run_execute
from tests.conftest import member

D, COMPONENT, CUMULATIVE, PATH, RESULTS = 4, 8, 12, 2, 12
POLICY = f"""
mode: enforce
rules:
  - id: analysts
    effect: allow
    when: {{role: [analyst], purpose: [investigation], data_class: [P2, P3]}}
constraints:
  - id: shape
    max_component_size: {COMPONENT}
    max_path_length: {PATH}
    max_degree: {D}
    max_results: {RESULTS}
    max_cumulative_component: {CUMULATIVE}
minimize:
  - {{id: bucket-age, transform: bucket, attributes: [age], width: 10, min_count: 2}}
  - {{id: month-only, transform: truncate_date, attributes: [since], unit: month}}
  - {{id: few, transform: min_results, min_count: 2}}
"""
BUCKET = re.compile(r"^\[\d+, \d+\)$")
_counter = itertools.count()


@st.composite
def graphs(draw: Any) -> nx.Graph:
    n = draw(st.integers(6, 24))
    g = nx.Graph()
    g.add_nodes_from(f"v{i:02d}" for i in range(n))
    hubs = draw(st.lists(st.sampled_from(sorted(g.nodes)), min_size=1, max_size=2, unique=True))
    for hub in hubs:  # hubs above D, so degree limits are exercised
        for leaf in draw(st.lists(st.sampled_from(sorted(g.nodes)), min_size=D, max_size=n, unique=True)):
            if leaf != hub:
                g.add_edge(hub, leaf)
    for a, b in draw(
        st.lists(st.tuples(st.sampled_from(sorted(g.nodes)), st.sampled_from(sorted(g.nodes))), max_size=n)
    ):
        if a != b:
            g.add_edge(a, b)
    return g


def queries(nodes: list[str]) -> Any:
    ages = st.sampled_from([{"age": 33}, {"age": "[30, 40)"}, {"age": ["[20, 30)", "[40, 50)"]}, {}])
    return st.fixed_dictionaries(
        {
            "seeds": st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique=True),
            "hops": st.integers(0, 3),
            "metric": st.sampled_from(["neighbourhood", "degree", "pagerank", "communities", "betweenness"]),
            "fields": st.sampled_from([["age"], ["city"], ["age", "since"], []]),
            "node_filter": ages,
        },
        optional={"top_k": st.integers(1, 8), "offset": st.integers(0, 6)},
    )


def _upload(owner: Any, g: nx.Graph, seed: int) -> str:
    slug = f"rand-{next(_counter)}"
    doc = {
        "attributes": {"nodes": {"age": "P2", "city": "P3"}, "edges": {"since": "P2"}},
        "nodes": [
            {"id": n, "type": "person", "age": 18 + (i * 7 + seed) % 60, "city": "Leeds"}
            for i, n in enumerate(sorted(g))
        ],
        "edges": [
            {"source": u, "target": v, "since": f"2026-0{1 + (i % 9)}-1{i % 10}"}
            for i, (u, v) in enumerate(sorted(g.edges()))
        ],
    }
    dataset_create(actor=owner, slug=slug, name=slug, files={"graph": UploadedFile("g.json", json.dumps(doc).encode())})
    return slug


@pytest.fixture
def world(tenant_a: Any, admin_a: Any) -> Any:
    with tenant_context(tenant_a):
        policy_save_version(actor=admin_a, slug="invariants", source=POLICY, activate=True)
    return tenant_a, admin_a


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data(), g=graphs(), seed=st.integers(0, 9))
def test_no_answer_sequence_reconstructs_more_than_the_limits(world: Any, data: Any, g: nx.Graph, seed: int) -> None:
    tenant, owner = world
    with tenant_context(tenant):
        slug = _upload(owner, g, seed)
        subject = member(tenant, f"subject-{next(_counter)}", "analyst")
        steps = data.draw(st.lists(queries(sorted(g)), min_size=1, max_size=6))
        known: dict[str, set[tuple[str, str]]] = defaultdict(set)
        revealed_degree: dict[str, int] = {}
        seen: set[str] = set()
        for step in steps:
            spec = {"dataset": slug, "purpose": "investigation", "reason": "property test", **step}
            run = query_run_execute(actor=subject, roles=frozenset({"analyst"}), spec=spec)
            assert run.pk and run.audit_seq  # every run, allowed or not, is stored and audited
            if run.status != QueryRun.Status.ALLOWED:
                assert run.result is None
                continue
            result = run.result
            rows = {n["id"]: n for n in result["nodes"]}
            for e in result["edges"]:
                pair = tuple(sorted((e["source"], e["target"])))
                known[pair[0]].add(pair)
                known[pair[1]].add(pair)
            present = [s for s in step["seeds"] if s in g]
            if len(present) == 1:  # a hop-1 row is then certainly linked to that seed
                for n in rows.values():
                    if n.get("hops") == 1:
                        pair = tuple(sorted((n["id"], present[0])))
                        known[pair[0]].add(pair)
                        known[pair[1]].add(pair)
            if result["metric"] == "degree":
                for n in rows.values():
                    revealed_degree[n["id"]] = max(revealed_degree.get(n["id"], 0), int(n["value"]))
            seen |= set(rows) | set(present)
            for n in rows.values():
                assert "age" not in n or n["age"] == "suppressed" or BUCKET.match(n["age"]), n
            for e in result["edges"]:
                assert "since" not in e or len(e["since"]) == 7, e
        for node, edges in known.items():
            assert len(edges) <= D, (node, sorted(edges))
        assert all(d <= D for d in revealed_degree.values()), revealed_degree
        largest = max((len(c) for c in nx.connected_components(g.subgraph(seen))), default=0)
        assert largest <= CUMULATIVE, sorted(seen)
