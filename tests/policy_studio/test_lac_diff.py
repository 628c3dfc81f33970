"""The rule-level policy diff (apps/policy_studio/lac/diff.py)."""

from __future__ import annotations

import random

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy_studio.lac.diff import compiled_digest, diff_policies, text_diff
from apps.policy_studio.lac.language import PolicySyntaxError, compile_policy
from tests.conftest import POLICY_SOURCE

BASE = yaml.safe_load(POLICY_SOURCE)


def dump(doc: dict, **style) -> str:
    return yaml.safe_dump(doc, sort_keys=False, **style)


def kinds(diff) -> set[tuple[str, str, str]]:
    return {(c.section, c.id, c.kind) for c in diff.changes}


def test_identical_sources_have_an_empty_diff() -> None:
    d = diff_policies(POLICY_SOURCE, POLICY_SOURCE)
    assert d.empty and d.text_identical and d.compiled_identical and d.summary() == "identical"


def test_added_removed_and_changed_rules_by_id_with_lines() -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    doc["rules"] = [r for r in doc["rules"] if r["id"] != "retention"]
    doc["rules"][0]["when"]["purpose"] = ["investigation"]
    doc["rules"].append({"id": "auditors-read", "effect": "allow", "when": {"role": ["auditor"]}})
    after = dump(doc)
    d = diff_policies(POLICY_SOURCE, after)
    assert kinds(d) == {
        ("rules", "retention", "removed"),
        ("rules", "analysts-investigate", "changed"),
        ("rules", "auditors-read", "added"),
    }
    [changed] = [c for c in d.changes if c.kind == "changed"]
    assert changed.fields[0].field == "when"
    assert changed.fields[0].before["purpose"] == ["investigation", "fraud"]
    removed = next(c for c in d.changes if c.kind == "removed")
    assert removed.line_before == 26 and removed.line_after is None  # "- id: retention" in the fixture
    added = next(c for c in d.changes if c.kind == "added")
    assert after.splitlines()[added.line_after - 1].lstrip().startswith("- id: auditors-read")
    assert not d.compiled_identical and d.summary() == "1 added, 1 changed, 1 removed"


def test_constraint_and_minimization_changes_are_named() -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    doc["constraints"][0]["max_degree"] = 30
    doc["minimize"] = [m for m in doc["minimize"] if m["id"] != "hash-names"]
    d = diff_policies(POLICY_SOURCE, dump(doc))
    assert kinds(d) == {("constraints", "graph-shape", "changed"), ("minimize", "hash-names", "removed")}
    [c] = d.section("constraints")
    assert [f.as_dict() for f in c.fields] == [{"field": "max_degree", "before": 25, "after": 30}]


def test_mode_change_is_top_level_and_not_identical() -> None:
    d = diff_policies(POLICY_SOURCE, POLICY_SOURCE.replace("mode: enforce", "mode: monitor"))
    assert [f.as_dict() for f in d.top_level] == [{"field": "mode", "before": "enforce", "after": "monitor"}]
    assert not d.compiled_identical and d.summary() == "mode changed"


def test_description_only_change_is_compiled_identical() -> None:
    after = POLICY_SOURCE.replace("Nothing older than a year.", "Retention is one year.")
    d = diff_policies(POLICY_SOURCE, after)
    [c] = d.changes
    assert c.doc_only and d.compiled_identical and d.formatting_only


def test_comments_and_flow_style_are_formatting_only() -> None:
    after = "# reformatted\n" + dump(BASE, default_flow_style=True, width=60)
    d = diff_policies(POLICY_SOURCE, after)
    assert d.empty and d.formatting_only and d.digest_before == d.digest_after
    assert "compiled policy is identical" in d.summary()


def test_reordering_allow_rules_is_a_move_the_engine_would_see() -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    doc["rules"][0], doc["rules"][1] = doc["rules"][1], doc["rules"][0]
    d = diff_policies(POLICY_SOURCE, dump(doc))
    assert [c.kind for c in d.changes] == ["moved"] and not d.compiled_identical


def test_jit_defaults_spelled_out_compile_the_same() -> None:
    doc = yaml.safe_load(POLICY_SOURCE)
    del doc["jit"][0]["max_wait_minutes"]  # the default is 60, the fixture's value
    d = diff_policies(POLICY_SOURCE, dump(doc))
    assert d.compiled_identical and [c.kind for c in d.changes] == ["changed"]


def test_invalid_source_raises_the_parsers_error() -> None:
    with pytest.raises(PolicySyntaxError):
        diff_policies(POLICY_SOURCE, "mode: enforce\nrules: 3\n")


def test_text_diff_aligns_lines() -> None:
    rows = text_diff("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(r.tag, r.line_before, r.line_after) for r in rows] == [
        ("equal", 1, 1),
        ("replace", 2, 2),
        ("equal", 3, 3),
        ("insert", None, 4),
    ]


def _shuffled(doc: dict, rnd: random.Random) -> dict:
    """The same policy with mapping keys shuffled, top-level sections shuffled and allow and
    deny rules interleaved differently (the order within each effect kept)."""

    def keys(value):
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: keys(v) for k, v in items}
        if isinstance(value, list):
            return [keys(v) for v in value]
        return value

    out = keys(doc)
    allow = [r for r in out["rules"] if r["effect"] == "allow"]
    deny = [r for r in out["rules"] if r["effect"] == "deny"]
    merged = []
    while allow or deny:
        pick = allow if (allow and (not deny or rnd.random() < 0.5)) else deny
        merged.append(pick.pop(0))
    out["rules"] = merged
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    flow=st.booleans(),
    indent=st.sampled_from([2, 4]),
    comment=st.text("abc #", max_size=12),
)
def test_reformatting_and_neutral_reordering_compile_identically(
    seed: int, flow: bool, indent: int, comment: str
) -> None:
    rnd = random.Random(seed)
    after = f"# {comment}\n" + dump(_shuffled(BASE, rnd), default_flow_style=flow, indent=indent)
    d = diff_policies(POLICY_SOURCE, after)
    assert d.compiled_identical and d.empty
    assert compiled_digest(compile_policy(after)) == compiled_digest(compile_policy(POLICY_SOURCE))
    assert diff_policies(after, after).empty


_IDS = st.sampled_from(["a", "b", "c", "d"])
_RULE = st.fixed_dictionaries(
    {
        "id": _IDS,
        "effect": st.sampled_from(["allow", "deny"]),
        "when": st.fixed_dictionaries(
            {"role": st.lists(st.sampled_from(["analyst", "partner", "auditor"]), min_size=1, max_size=2, unique=True)}
        ),
    }
)


@st.composite
def policies(draw) -> str:
    rules = draw(st.lists(_RULE, max_size=4, unique_by=lambda r: r["id"]))
    return dump({"mode": draw(st.sampled_from(["enforce", "monitor"])), "rules": rules})


@settings(max_examples=60, deadline=None)
@given(a=policies(), b=policies())
def test_diff_is_empty_exactly_when_the_compiled_forms_are_equal(a: str, b: str) -> None:
    assert diff_policies(a, a).empty
    d = diff_policies(a, b)
    # Every compiled difference shows up as a rule-level change, and the other way round.
    assert d.compiled_identical == (
        compile_policy(a).allow == compile_policy(b).allow
        and compile_policy(a).deny == compile_policy(b).deny
        and compile_policy(a).mode == compile_policy(b).mode
    )
    assert d.compiled_identical == (not [c for c in d.changes if not c.doc_only] and not d.top_level)
    back = diff_policies(b, a)
    flip = {"added": "removed", "removed": "added"}

    # Which of two swapped items "moved" depends on the direction; whether something moved does not.
    def shape(diff, turn: dict[str, str]) -> set[tuple[str, str, str]]:
        return {(c.section, c.id, turn.get(c.kind, c.kind)) for c in diff.changes if c.kind != "moved"}

    assert shape(back, flip) == shape(d, {})
    assert any(c.kind == "moved" for c in back.changes) == any(c.kind == "moved" for c in d.changes)
