"""The red-team findings of 2026-12-01: a filter on a min_count bucket inverted "suppressed";
period filters and blank reasons were accepted. (Statistics visibility: tests/graphs.)"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from apps.graphs.query_spec import QuerySpecError, validate_query_spec
from apps.policy_studio.lac import minimize
from apps.policy_studio.lac.language import MinimizeRule
from apps.policy_studio.lac.minimize import SUPPRESSED
from tests.conftest import FIXTURES, demo_query
from tests.core.test_api import assert_envelope

GRAPH = json.loads((FIXTURES / "datasets" / "calls-demo.json").read_text())
AGES = {n["id"]: n["age"] for n in GRAPH["nodes"]}


def _attack(number: int) -> dict:
    corpus = json.loads((FIXTURES / "redteam" / "corpus.json").read_text())
    case = next(c for c in corpus["cases"] if c["id"] == f"bucket_filter_inversion-attack-{number:03d}")
    return case["steps"][0]


@pytest.mark.parametrize("fields", [["age"], ["city"]])
def test_a_two_bucket_filter_never_lets_a_suppressed_bucket_through(analyst_api_a, fields) -> None:
    step = _attack(1)
    spec = demo_query(**{k: v for k, v in step.items() if k not in ("dataset", "purpose", "reason")})
    spec["fields"] = fields
    response = analyst_api_a.post("/api/queries/", spec, format="json")
    assert response.status_code == 201, response.content
    body = response.json()["result"]
    rows = body["nodes"]
    assert rows, "the bucket held by enough rows still comes back"
    assert all(row.get("age") != SUPPRESSED for row in rows)
    decades = Counter(AGES[row["id"]] // 10 for row in rows)
    assert all(decades[AGES[row["id"]] // 10] >= 3 for row in rows), decades  # each bucket as released
    assert "withheld" not in body  # nothing says rows were left out
    returned = {row["id"] for row in rows}
    assert all(e["source"] in returned and e["target"] in returned for e in body["edges"])


def test_minimize_withholds_filtered_small_buckets_even_when_not_a_field() -> None:
    rule = MinimizeRule(id="bucket-age", transform="bucket", params={"width": 10, "min_count": 2}, attributes=("age",))
    values = {"a": 41, "b": 45, "c": 12}
    result = {
        "nodes": [{"id": n} for n in values],
        "edges": [{"source": "a", "target": "c"}, {"source": "a", "target": "b"}],
        "groups": dict.fromkeys(values, 0),
    }
    lookups = (lambda n: {"age": values[n]}, lambda s, t: {})
    out, _ = minimize.apply(result, (rule,), {"age": "P2"}, b"k", node_filtered={"age": 1}, source_attrs=lookups)
    assert [n["id"] for n in out["nodes"]] == ["a", "b"] and out["edges"] == [{"source": "a", "target": "b"}]
    unfiltered, _ = minimize.apply(result, (rule,), {"age": "P2"}, b"k", source_attrs=lookups)
    assert len(unfiltered["nodes"]) == 3  # without a filter nothing is withheld: "suppressed" is not inverted


@pytest.mark.parametrize("period", ["2026-13", "0000", "2026-00", "2026-02-30"])
def test_invalid_periods_are_a_400_naming_the_period(analyst_api_a, period) -> None:
    with pytest.raises(QuerySpecError) as caught:
        validate_query_spec(demo_query(seeds=["grp12-0"], metric="neighbourhood", edge_filter={"since": period}))
    assert period in str(caught.value.errors["edge_filter/since"])
    body = assert_envelope(
        analyst_api_a.post(
            "/api/queries/", demo_query(seeds=["grp12-0"], metric="neighbourhood", edge_filter={"since": [period]}),
            format="json",
        ),
        400,
    )  # fmt: skip
    assert period in json.dumps(body)


def test_valid_periods_still_pass() -> None:
    for period in ("2026", "2026-06", "2026-06-12"):
        validate_query_spec(demo_query(seeds=["x"], metric="neighbourhood", edge_filter={"since": period}))


@pytest.mark.parametrize("reason", ["   ", "\t\n  \t", "  a  "])
def test_a_blank_reason_is_a_400(analyst_api_a, reason) -> None:
    body = assert_envelope(
        analyst_api_a.post("/api/queries/", demo_query(seeds=["grp12-0"], metric="neighbourhood", reason=reason),
                           format="json"),
        400,
    )  # fmt: skip
    assert "reason" in json.dumps(body)
