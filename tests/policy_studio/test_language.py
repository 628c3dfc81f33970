from __future__ import annotations

import pytest

from apps.policy_studio.lac.language import PolicySyntaxError, compile_policy, parse
from tests.conftest import POLICY_SOURCE


def problems(source: str) -> list[tuple[int, int, str]]:
    with pytest.raises(PolicySyntaxError) as exc:
        parse(source)
    return [(p.line, p.column, p.message) for p in exc.value.problems]


def test_the_demo_policy_compiles() -> None:
    policy = compile_policy(POLICY_SOURCE)
    assert policy.mode == "enforce"
    assert [r.id for r in policy.allow] == ["analysts-investigate", "cleared-identity-team"]
    assert [r.id for r in policy.deny] == ["partners-never-identities", "retention"]
    assert policy.constraints[0].max_degree == 25 and len(policy.minimize) == 5


def test_yaml_syntax_errors_have_line_and_column() -> None:
    [(line, col, message)] = problems("mode: enforce\nrules:\n  - id: a\n    effect: [allow\n")
    assert (line, message.startswith("YAML syntax")) == (5, True) and col >= 1


def test_schema_errors_point_at_the_offending_key() -> None:
    source = "mode: enforce\nrules:\n  - id: r1\n    effect: allow\n    when:\n      role: [analyst, wizard]\n      colour: red\n"
    found = problems(source)
    assert (6, 23, "'wizard' is not one of admin, policy_author, approver, auditor, analyst, partner") in found
    assert (
        7,
        7,
        "unknown key(s) 'colour'; expected one of: clearance, data_class, dataset, group, hours, legal_authority, license, max_dataset_age_days, purpose, role, view, weekdays",
    ) in found


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "the policy is empty"),
        ("mode: sometimes\nrules: []\n", "'sometimes' is not one of enforce, monitor"),
        ("rules: []\n", "'mode' is required"),
        ("mode: enforce\nrules:\n  - {id: a, effect: allow}\n  - {id: a, effect: deny}\n", "duplicate id 'a'"),
        ("mode: enforce\nrules: []\nconstraints:\n  - {id: c}\n", "give at least one limit"),
        (
            "mode: enforce\nrules: []\nminimize:\n  - {id: m, transform: bucket, attributes: [age]}\n",
            "exactly one of width or edges",
        ),
        ("mode: enforce\nrules: []\nminimize:\n  - {id: m, transform: mask}\n", "say which attributes"),
        (
            "mode: enforce\nrules:\n  - {id: a, effect: allow, when: {hours: {from: 20, to: 6}}}\n",
            "hours.from must be before",
        ),
        ("mode: enforce\nrules: []\nconstraints:\n  - {id: c, max_degree: -1}\n", "less than the minimum"),
        ("- just a list\n", "is not of type 'object'"),
    ],
)
def test_invalid_policies_are_explained(source: str, fragment: str) -> None:
    assert any(fragment in message for _, _, message in problems(source)), problems(source)


def test_huge_policy_is_refused() -> None:
    assert "larger than" in problems("#" * 200_001)[0][2]


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("mode: enforce\nrules: []\nx: " + "[" * 5000 + "]" * 5000 + "\n", 3, "nested more than"),
        ("mode: enforce\nrules: []\nx:\n" + "".join("  " * i + "- \n" for i in range(1, 60)), 5, "nested more than"),
        (
            "mode: enforce\nrules:\n  - {id: a, effect: allow, when: {clearance: {min: " + "9" * 5000 + "}}}\n",
            3,
            "number",
        ),
        ("mode: enforce\nrules: []\nconstraints:\n  - {id: c, max_degree: 1" + "0" * 100_000 + "}\n", 4, "number"),
    ],
)
def test_deep_nesting_and_huge_numbers_are_explained_not_crashes(source: str, line: int, fragment: str) -> None:
    [(got_line, column, message)] = problems(source)
    assert fragment in message and column >= 1 and got_line >= line - 2


def test_deep_yaml_through_the_api_is_a_400_with_line_and_column(api_a) -> None:
    from tests.core.test_api import assert_envelope

    body = assert_envelope(
        api_a.post("/api/policies/", {"slug": "deep", "source": "mode: enforce\nrules: " + "[" * 3000}, format="json"),
        400,
    )
    problem = body["details"]["problems"][0]
    assert problem["line"] == 2 and problem["column"] > 1 and "nested" in problem["message"]
