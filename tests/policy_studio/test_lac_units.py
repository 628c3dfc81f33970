"""The pure LAC pieces: access decisions, graph constraints and minimization."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise

from apps.policy_studio.lac import constraints as c
from apps.policy_studio.lac import minimize as m
from apps.policy_studio.lac.engine import Context, Resource, Subject, evaluate_access
from apps.policy_studio.lac.language import Constraint, compile_policy
from tests.conftest import POLICY_SOURCE

POLICY = compile_policy(POLICY_SOURCE)
NOON = Context("investigation", datetime(2026, 11, 18, 12, tzinfo=UTC))


def resource(*classes: str, age: int = 1) -> Resource:
    return Resource("calls-demo", None, frozenset(classes), "internal", "none", age)


def test_allow_needs_every_touched_class_listed() -> None:
    analyst = Subject("a", frozenset({"analyst"}))
    assert evaluate_access(POLICY, analyst, resource("P2", "P3"), NOON).allowed
    fraud = Context("fraud", NOON.now)  # no JIT path for this purpose
    denied = evaluate_access(POLICY, analyst, resource("P2", "P0"), fraud)
    assert not denied.allowed and "CONDITION_FAILED:data_class" in denied.codes
    assert "query touches P0" in denied.sentences[0]


def test_jit_rule_needs_a_named_grant_with_its_bound_reason() -> None:
    import hashlib

    from apps.policy_studio.lac.engine import GrantFacts

    analyst = Subject("a", frozenset({"analyst"}))
    needs = evaluate_access(POLICY, analyst, resource("P0", "P2"), NOON)
    assert needs.codes == ["JIT_REQUIRED", "rule:identities-with-approval"] and "two approvers" in needs.sentences[0]
    bound = hashlib.sha256(b"Case 2026-118").hexdigest()
    grant = GrantFacts(
        7, "identities-with-approval", "calls-demo", frozenset({"P0", "P1", "P2"}), "investigation", bound
    )
    unnamed = evaluate_access(POLICY, analyst, resource("P0", "P2"), replace(NOON, reason_sha256=bound), (grant,))
    assert not unnamed.allowed and unnamed.codes[0] == "JIT_REQUIRED" and "name it" in unnamed.sentences[0]
    named = replace(NOON, grant=7, reason_sha256=bound)
    allowed = evaluate_access(POLICY, analyst, resource("P0", "P2"), named, (grant,))
    assert allowed.allowed and allowed.grant_id == 7 and "jit:7" in allowed.codes
    other_reason = evaluate_access(
        POLICY, analyst, resource("P0", "P2"), replace(named, reason_sha256="0" * 64), (grant,)
    )
    assert not other_reason.allowed and other_reason.codes[0] == "GRANT_REASON_MISMATCH"
    wider = evaluate_access(POLICY, analyst, resource("P0", "P3"), named, (grant,))  # P3 not in the grant
    assert not wider.allowed and wider.codes[0] == "GRANT_NOT_APPLICABLE"
    someone_elses = evaluate_access(POLICY, analyst, resource("P0", "P2"), replace(named, grant=8), (grant,))
    assert not someone_elses.allowed and someone_elses.codes[0] == "GRANT_NOT_APPLICABLE"


def test_clearance_and_group_unlock_identities() -> None:
    cleared = Subject("c", frozenset({"analyst"}), frozenset({"identity-team"}), 3)
    assert evaluate_access(POLICY, cleared, resource("P0", "P1", "P2"), NOON).allowed
    low = Subject("c", frozenset({"analyst"}), frozenset({"identity-team"}), 2)
    assert not evaluate_access(POLICY, low, resource("P0", "P2"), NOON).allowed


def test_deny_beats_allow_and_retention_expires() -> None:
    partner = Subject("p", frozenset({"partner", "analyst"}))
    result = evaluate_access(POLICY, partner, resource("P1", "P2"), NOON)
    assert not result.allowed and result.codes[:2] == ["RULE_DENY", "rule:partners-never-identities"]
    old = evaluate_access(POLICY, Subject("a", frozenset({"analyst"})), resource("P2", age=400), NOON)
    assert old.codes[0] == "RETENTION_EXPIRED"


def test_default_deny_with_no_rules() -> None:
    empty = compile_policy("mode: enforce\nrules: []\n")
    assert evaluate_access(empty, Subject("a", frozenset({"analyst"})), resource("P3"), NOON).codes == [
        "NO_MATCHING_ALLOW"
    ]


def _plan(**kw) -> c.PlanFacts:
    base = {
        "seeds": ["hub"],
        "hops": 1,
        "filtered": False,
        "top_k": None,
        "offset": 0,
        "seed_stats": {"hub": (60, 0, 200)},
        "component_sizes": [300],
        "component_max_degree": [60],
        "component_hub": ["hub"],
    }
    return c.PlanFacts(**{**base, **kw})


LIMITS = Constraint("shape", {}, max_component_size=40, max_path_length=3, max_degree=25, max_results=100)


def test_plan_denies_only_what_is_certain() -> None:
    codes = {v.code: v for v in c.check_plan(LIMITS, _plan())}
    assert codes["DEGREE_EXCEEDED"].witness == {"hub": "hub"} and codes["DEGREE_EXCEEDED"].observed == 60
    assert codes["COMPONENT_SIZE_EXCEEDED"].observed == 61
    # With a filter or a top_k the hub's neighbourhood may be cut: not certain, so no plan denial.
    assert c.check_plan(LIMITS, _plan(filtered=True)) == []
    assert c.check_plan(LIMITS, _plan(top_k=5)) == []
    assert [v.code for v in c.check_plan(LIMITS, _plan(hops=5, seed_stats={}))] == ["PATH_LENGTH_EXCEEDED"]
    assert [v.code for v in c.check_plan(LIMITS, _plan(top_k=50, offset=60, filtered=True))] == [
        "RESULT_WINDOW_EXCEEDED"
    ]


def test_plan_estimates_are_upper_bounds() -> None:
    facts = _plan(hops=2)
    assert facts.estimate() == {"component_size": 200, "path_length": 2, "degree": 60}


def test_exact_checks_name_limit_observed_and_witness() -> None:
    chain = ["a", "b", "c", "d", "e"]
    parent = {"a": None, "b": "a", "c": "b", "d": "c", "e": "d"}

    def path_to(n):
        out = [n]
        while parent[out[-1]]:
            out.append(parent[out[-1]])
        return out[::-1]

    facts = c.ResultFacts(chain, list(pairwise(chain)), {n: i for i, n in enumerate(chain)}, path_to, 0)
    [violation] = c.check_result(LIMITS, facts.observe())
    assert (violation.code, violation.limit, violation.observed) == ("PATH_LENGTH_EXCEEDED", 3, 4)
    assert violation.witness == {"path": chain}
    assert "a → b → c → d → e" in violation.sentence()


def test_revealed_degree_counts_even_when_edges_are_cut() -> None:
    facts = c.ResultFacts(["hub"], [], {"hub": 1}, lambda n: [n], 0, revealed_degree={"hub": 60})
    [violation] = c.check_result(LIMITS, facts.observe())
    assert violation.code == "DEGREE_EXCEEDED" and violation.witness == {"hub": "hub"}


def test_largest_component_and_exposure() -> None:
    assert c.largest_component(["a", "b", "c", "d"], [("a", "b"), ("c", "d"), ("b", "c")])[0] == 4
    adjacency = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}, "x": set()}
    assert c.exposure_component(adjacency, {"a", "b", "c", "x"}) == (3, ["a", "b", "c"])


def test_minimization_transforms() -> None:
    rules = compile_policy(POLICY_SOURCE).minimize
    classes = {"phone": "P0", "name": "P1", "age": "P2", "since": "P2", "city": "P3"}
    result = {
        "nodes": [
            {"id": "1", "phone": "+447700900123", "name": "Ann", "age": 34, "city": "Leeds"},
            {"id": "2", "age": 36},
            {"id": "3", "age": 38},
            {"id": "4", "age": 71},
        ],
        "edges": [{"source": "1", "target": "2", "since": "2026-03-14"}],
    }
    out, steps = m.apply(result, rules, classes, b"k" * 32)
    first = out["nodes"][0]
    assert first["phone"] == "•••••••••••23" and first["name"].startswith("h:") and first["city"] == "Leeds"
    assert [n["age"] for n in out["nodes"]] == ["[30, 40)"] * 3 + ["suppressed"]  # the lone 70s bucket is too small
    assert out["edges"][0]["since"] == "2026-03"
    assert {s.attribute: s.transform for s in steps} == {
        "*": "min_results",
        "phone": "mask",
        "name": "hash",
        "age": "bucket",
        "since": "truncate_date",
    }
    assert next(s for s in steps if s.attribute == "age").suppressed == 1


def test_min_results_counts_connected_rows_and_says_nothing_about_what_it_withheld() -> None:
    rules = compile_policy(POLICY_SOURCE).minimize
    alone, steps = m.apply({"nodes": [{"id": "1", "age": 30}], "edges": []}, rules, {"age": "P2"}, b"k")
    assert alone["nodes"] == [] and "withheld" not in alone and steps[0].transform == "min_results"
    assert steps[0].suppressed == 0  # no count: it would be an oracle bit
    # A decoy from another group does not make the target's row a pair.
    padded = {
        "nodes": [{"id": "t", "city": "Leeds"}, {"id": "d", "city": "York"}],
        "edges": [],
        "groups": {"t": 0, "d": 1},
    }
    out, _ = m.apply(padded, rules, {"city": "P3"}, b"k")
    assert out["nodes"] == [] and "groups" not in out
    linked = {**padded, "edges": [{"source": "d", "target": "t"}], "groups": {"t": 0, "d": 0}}
    out, _ = m.apply(linked, rules, {"city": "P3"}, b"k")
    assert [n["id"] for n in out["nodes"]] == ["t", "d"]


def test_bucket_min_count_is_counted_within_a_group() -> None:
    rules = compile_policy(POLICY_SOURCE).minimize

    def rows() -> list[dict]:
        return [{"id": i, "age": 31 + n} for n, i in enumerate("abcd")]

    out, _ = m.apply(
        {"nodes": rows(), "edges": [], "groups": {"a": 0, "b": 0, "c": 1, "d": 1}}, rules, {"age": "P2"}, b"k"
    )
    # Two groups of two: each meets min_results 2, but no bucket holds min_count 3 within a group.
    assert [n["age"] for n in out["nodes"]] == ["suppressed"] * 4
    out, _ = m.apply({"nodes": rows(), "edges": [], "groups": dict.fromkeys("abcd", 0)}, rules, {"age": "P2"}, b"k")
    assert [n["age"] for n in out["nodes"]] == ["[30, 40)"] * 4


def test_node_and_edge_attributes_are_minimized_with_their_own_class() -> None:
    rules = compile_policy(POLICY_SOURCE).minimize  # hash-names covers class P1
    result = {
        "nodes": [{"id": "a", "label": "Ann Shaw"}, {"id": "b", "label": "Ben Kim"}],
        "edges": [{"source": "a", "target": "b", "label": "mobile"}],
        "groups": {"a": 0, "b": 0},
    }
    out, _ = m.apply(result, rules, {"label": "P1"}, b"k", edge_classes={"label": "P3"})
    assert all(n["label"].startswith("h:") for n in out["nodes"]) and out["edges"][0]["label"] == "mobile"


def test_bucket_edges_and_keyed_hash_is_keyed() -> None:
    assert (
        m.bucket(17, edges=[18, 65]) == "< 18"
        and m.bucket(40, edges=[18, 65]) == "[18, 65)"
        and m.bucket(70, edges=[18, 65]) == ">= 65"
    )
    assert m.keyed_hash("Ann", b"one") != m.keyed_hash("Ann", b"two")
