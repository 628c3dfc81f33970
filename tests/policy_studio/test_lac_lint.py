"""Lint rules (apps/policy_studio/lac/lint.py): each id fires on its example, at its line and
column, and stays quiet on the fixed version."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy_studio.lac.engine import Context, Resource, Subject, evaluate_access
from apps.policy_studio.lac.language import PolicySyntaxError, compile_policy
from apps.policy_studio.lac.lint import RULES, DatasetFacts, lint_source
from tests.conftest import POLICY_SOURCE

CALLS = DatasetFacts(
    slug="calls-demo",
    structure_class="P2",
    attribute_classes={"nodes": {"name": "P1", "phone": "P0", "age": "P2"}, "edges": {"since": "P2"}},
    nodes=12,
    max_degree=6,
    largest_component=9,
)


def codes(source: str, datasets=(), *, only: str | None = None) -> list[tuple[str, int, int]]:
    return [(f.code, f.line, f.column) for f in lint_source(source, datasets) if only in (None, f.code)]


def found(source: str, code: str, datasets=()) -> list:
    return [f for f in lint_source(source, datasets) if f.code == code]


HEAD = "mode: enforce\nrules:\n"


def test_every_rule_id_is_documented_with_a_section_and_an_example() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "lac-lint.md").read_text()
    for code in RULES:
        section = text.split(f"## {code}", 1)[1].split("\n## ", 1)[0]
        assert "```yaml" in section, code


def test_lac101_allow_shadowed_by_an_earlier_broader_allow() -> None:
    source = HEAD + (
        "  - id: broad\n    effect: allow\n    when: {role: [analyst], purpose: [investigation]}\n"
        "  - id: narrow\n    effect: allow\n    when: {role: [analyst], purpose: [investigation], clearance: {min: 2}}\n"
    )
    [f] = found(source, "LAC101")
    assert (f.line, f.column, f.item, f.related) == (6, 5, "narrow", ("broad",))
    fixed = source.replace(
        "role: [analyst], purpose: [investigation]}", "role: [auditor], purpose: [investigation]}", 1
    )
    assert codes(fixed, only="LAC101") == []


def test_lac101_jit_rule_shadowed_by_a_plain_allow() -> None:
    source = HEAD + (
        "  - id: analysts\n    effect: allow\n    when: {role: [analyst], purpose: [investigation]}\n"
        "jit:\n  - id: identities\n    fallback_groups: [duty]\n"
        "    when: {role: [analyst], purpose: [investigation], data_class: [P1]}\n"
    )
    assert codes(source, only="LAC101") == [("LAC101", 7, 5)]
    assert (
        codes(
            source.replace("data_class: [P1]", "data_class: [P1], group: [x]").replace(
                "purpose: [investigation]}", "purpose: [fraud]}", 1
            ),
            only="LAC101",
        )
        == []
    )


def test_lac102_allow_that_a_deny_always_beats() -> None:
    source = HEAD + (
        "  - id: partners-identities\n    effect: allow\n"
        "    when: {role: [partner], purpose: [audit], data_class: [P1, P2]}\n"
        "  - id: no-partner-data\n    effect: deny\n    description: partners see nothing of P1/P2\n"
        "    when: {role: [partner, auditor], data_class: [P1, P2, P3]}\n"
    )
    [f] = found(source, "LAC102")
    assert (f.line, f.column, f.severity, f.related) == (3, 5, "error", ("no-partner-data",))
    # The allow may touch P2 only, which the deny also lists: still unreachable. Allowing P0
    # (not denied) makes it reachable.
    assert codes(source.replace("data_class: [P1, P2]}", "data_class: [P0, P2]}"), only="LAC102") == []


def test_lac103_allow_without_purpose_points_at_when() -> None:
    source = HEAD + "  - id: open\n    effect: allow\n    when: {role: [analyst]}\n"
    assert codes(source, only="LAC103") == [("LAC103", 5, 5)]
    assert codes(source.replace("{role: [analyst]}", "{role: [analyst], purpose: [fraud]}"), only="LAC103") == []


def test_lac104_deny_without_description() -> None:
    source = HEAD + "  - id: no-partners\n    effect: deny\n    when: {role: [partner]}\n"
    assert codes(source) == [("LAC104", 3, 5)]
    assert codes(source.replace("effect: deny\n", "effect: deny\n    description: partners never\n")) == []


def test_lac105_tier1_attribute_without_minimization_with_dataset_facts() -> None:
    source = HEAD + (
        "  - id: identity-team\n    effect: allow\n"
        "    when: {role: [analyst], purpose: [investigation], data_class: [P1, P2]}\n"
        "minimize:\n  - {id: mask-phone, transform: mask, attributes: [phone]}\n"
    )
    [f] = lint_source(source, [CALLS])
    assert (f.code, f.line, f.column) == ("LAC105", 5, 67) and "calls-demo.name (P1)" in f.message
    assert "phone" not in f.message  # P0 is not admitted by the rule
    fixed = source + "  - {id: hash-names, transform: hash, attributes: [name]}\n"
    assert codes(fixed, [CALLS]) == []


def test_lac105_without_dataset_facts_only_when_nothing_could_cover_the_class() -> None:
    source = HEAD + "  - id: all\n    effect: allow\n    when: {role: [analyst], purpose: [fraud]}\n"
    [f] = lint_source(source)
    assert f.code == "LAC105" and "P0, P1" in f.message
    named = source + "minimize:\n  - {id: mask-phone, transform: mask, attributes: [phone]}\n"
    assert codes(named) == []  # it may cover the Tier-1 attributes; only dataset facts can tell


def test_lac106_constraint_that_cannot_fire_on_the_datasets_statistics() -> None:
    source = HEAD + (
        "  - id: a\n    effect: allow\n    when: {role: [analyst], purpose: [x], data_class: [P2]}\n"
        "constraints:\n  - id: caps\n    applies_to: {data_class: [P2]}\n    max_degree: 30\n    max_component_size: 9\n"
    )
    [f] = lint_source(source, [CALLS])
    assert (f.code, f.line, f.column) == ("LAC106", 9, 5)
    assert "max_degree 30 ≥ largest degree 6" in f.message and "max_component_size 9 ≥ largest component 9" in f.message
    assert codes(source.replace("max_component_size: 9", "max_component_size: 8"), [CALLS]) == []
    assert codes(source) == []  # without statistics nothing is claimed
    # A hop limit a query can exceed always can fire.
    assert codes(source + "    max_path_length: 3\n", [CALLS]) == []


def test_lac107_jit_without_fallback() -> None:
    source = HEAD + "  []\njit:\n  - id: ids\n    when: {role: [analyst], purpose: [investigation], data_class: [P2]}\n"
    source = source.replace("rules:\n  []", "rules: []")
    assert codes(source) == [("LAC107", 4, 5)]
    assert codes(source + "    fallback_groups: [duty-officers]\n") == []


def test_the_demo_policy_has_only_the_documented_finding() -> None:
    assert [f.code for f in lint_source(POLICY_SOURCE, [CALLS])] == ["LAC104"]


def test_invalid_policy_raises_the_syntax_error() -> None:
    with pytest.raises(PolicySyntaxError):
        lint_source("mode: enforce\n")


# --- Property: a rule reported as shadowed or unreachable never decides -----------------

_ROLES = ["analyst", "partner", "auditor"]
_PURPOSES = ["investigation", "fraud"]
_CLASSES = ["P0", "P1", "P2"]


def _when():
    return st.fixed_dictionaries(
        {},
        optional={
            "role": st.lists(st.sampled_from(_ROLES), min_size=1, max_size=2, unique=True),
            "purpose": st.lists(st.sampled_from(_PURPOSES), min_size=1, max_size=2, unique=True),
            "data_class": st.lists(st.sampled_from(_CLASSES), min_size=1, max_size=3, unique=True),
            "clearance": st.builds(lambda n: {"min": n}, st.integers(0, 2)),
        },
    )


@st.composite
def _policy(draw) -> str:
    import yaml

    n = draw(st.integers(1, 5))
    rules = [
        {"id": f"r{i}", "effect": draw(st.sampled_from(["allow", "deny"])), "description": "d", "when": draw(_when())}
        for i in range(n)
    ]
    return yaml.safe_dump({"mode": "enforce", "rules": rules}, sort_keys=False)


_REQUESTS = [
    (role, purpose, frozenset(classes), clearance)
    for role in _ROLES
    for purpose in _PURPOSES
    for classes in (["P0"], ["P1"], ["P2"], ["P0", "P2"], ["P1", "P2"], ["P0", "P1", "P2"])
    for clearance in (0, 1, 2)
]


@settings(max_examples=80, deadline=None)
@given(source=_policy())
def test_shadowed_and_unreachable_rules_never_decide_any_request(source: str) -> None:
    flagged = {f.item for f in lint_source(source) if f.code in ("LAC101", "LAC102")}
    policy = compile_policy(source)
    from datetime import UTC, datetime

    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    for role, purpose, classes, clearance in _REQUESTS:
        result = evaluate_access(
            policy,
            Subject("u", frozenset({role}), clearance=clearance),
            Resource("ds", None, classes, "internal", "none", 1),
            Context(purpose=purpose, now=now),
        )
        assert not (set(result.matched) & flagged), (result.matched, flagged)


def test_bench_lint_prints_its_figures_as_json() -> None:
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("bench_lint", "--quick", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report["targets"]) == {"lint_fixture_p95_ms", "lint_500_rules_p95_ms"}
    assert all(isinstance(t["met"], bool) for t in report["targets"].values())
    assert report["lint_500_rules"]["n"] == 1 and report["sizes"]["big_chars"] > 50_000
