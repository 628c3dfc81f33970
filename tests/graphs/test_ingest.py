from __future__ import annotations

import json

import pytest

from apps.graphs import ingest
from apps.graphs.stats import build_networkx, compute_stats
from tests.conftest import FIXTURES


def test_json_and_csv_forms_of_the_same_graph_have_the_same_content_hash() -> None:
    from_json = ingest.parse_json((FIXTURES / "datasets" / "calls-demo.json").read_bytes())
    from_csv = ingest.parse_csv(
        (FIXTURES / "datasets" / "calls-demo-nodes.csv").read_bytes(),
        (FIXTURES / "datasets" / "calls-demo-edges.csv").read_bytes(),
    )
    assert from_json.content_hash() == from_csv.content_hash()
    assert len(from_json.nodes) == 504 and from_json.node_classes["phone"] == "P0"


def _problems(exc: pytest.ExceptionInfo) -> list[tuple]:
    return [(p["file"], p["row"], p["message"]) for p in exc.value.problems]


def test_csv_errors_name_file_and_row() -> None:
    nodes = b"id,type,name:P1\nn1,person,Ann\nn2,person,Bo\nn1,person,Cy\n"
    edges = b"source,target,type\nn1,n2,calls\nn2,zz,calls\n"
    with pytest.raises(ingest.GraphFormatError) as exc:
        ingest.parse_csv(nodes, edges)
    problems = _problems(exc)
    assert ("nodes.csv", 4, "duplicate node id 'n1' (first at row 2)") in problems
    assert ("edges.csv", 3, "edge refers to unknown node 'zz' (dangling edge)") in problems
    assert str(exc.value).startswith("nodes.csv row 4: duplicate node id")


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (b"name,type\nn1,x\n", "missing column(s) ['id']"),
        (b"id,type,name\nn1,x,Ann\n", "column 'name' needs a data class"),
        (b"id,type,name:P7\nn1,x,Ann\n", "data class must be P0, P1, P2 or P3"),
        (b"id,type\nn1,x,extra\n", "expected 2 fields, found 3"),
        (b"\x00\x01\x02garbage" * 100, "binary data"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"", "the file is empty"),
    ],
)
def test_bad_csv_is_refused_with_a_reason(nodes: bytes, message: str) -> None:
    with pytest.raises(ingest.GraphFormatError) as exc:
        ingest.parse_csv(nodes, b"source,target\n")
    assert any(message in p["message"] for p in exc.value.problems), exc.value.problems


def test_json_errors_carry_line_and_column() -> None:
    with pytest.raises(ingest.GraphFormatError) as exc:
        ingest.parse_json(b'{"nodes": [\n  {"id": "a"},\n  {"id": }\n]}')
    assert "line 3 column 10" in str(exc.value)


def test_json_structure_errors() -> None:
    doc = {"attributes": {"nodes": {"name": "P9"}}, "nodes": [{"id": "a", "secret": 1}, "oops"], "edges": []}
    with pytest.raises(ingest.GraphFormatError) as exc:
        ingest.parse_json(json.dumps(doc).encode())
    messages = " | ".join(p["message"] for p in exc.value.problems)
    assert "data class 'P9'" in messages and "each node must be an object" in messages


def test_self_loops_and_undeclared_attributes_are_refused() -> None:
    doc = {"nodes": [{"id": "a", "x": 1}, {"id": "b"}], "edges": [{"source": "a", "target": "a"}]}
    with pytest.raises(ingest.GraphFormatError) as exc:
        ingest.parse_json(json.dumps(doc).encode())
    messages = [p["message"] for p in exc.value.problems]
    assert "attribute 'x' has no data class; declare it" in messages
    assert "self-loop on 'a' is not allowed" in messages


def test_statistics_are_exact_where_they_claim_to_be() -> None:
    graph = ingest.parse_json((FIXTURES / "datasets" / "calls-demo.json").read_bytes())
    g = build_networkx(graph)
    stats = compute_stats(g)
    assert stats.summary["max_degree"] == 60 and stats.summary["max_degree_node"] == "hub-a"
    assert stats.nodes["hub-a"].degree == 60
    assert sum(stats.component_sizes) == g.number_of_nodes()
    # reach2 is an upper bound on the real two-hop neighbourhood
    import networkx as nx

    for node in ("hub-a", "com-010", "chain-05", "grp03-0"):
        real = len(nx.single_source_shortest_path_length(g, node, cutoff=2))
        assert real <= stats.nodes[node].reach2
