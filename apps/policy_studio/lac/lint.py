"""Lint rules for policies (pure; no Django): coaching, not validation — a policy with
findings is still valid and can be saved. Each rule has a stable id documented in
docs/lac-lint.md; each finding has the line and column it is about.

A finding is only raised when it is provable from the policy (and, for the data-aware
rules, from the statistics and attribute classes of the datasets passed in): ``_implies``
answers "every request this rule matches, that rule matches too" conservatively, so a
"shadowed" or "unreachable" finding is never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .diff import LOADER
from .language import CompiledPolicy, _mark_for, compile_policy

TIER1 = frozenset({"P0", "P1"})
MAX_HOPS = 10  # apps/graphs/query_spec.py: "hops" maximum
MAX_WINDOW = 1_000_000 + 10_000  # apps/graphs/query_spec.py: "offset" + "top_k" maxima

RULES: dict[str, tuple[str, str]] = {
    # id: (severity, title) — the docs page has one section per id.
    "LAC101": ("warning", "shadowed rule"),
    "LAC102": ("error", "unreachable rule"),
    "LAC103": ("warning", "allow without a purpose"),
    "LAC104": ("info", "deny without a description"),
    "LAC105": ("error", "Tier-1 data without a minimization rule"),
    "LAC106": ("warning", "constraint that can never fire"),
    "LAC107": ("warning", "JIT rule without fallback approvers"),
}
_SET_KEYS = ("role", "group", "dataset", "view", "license", "legal_authority", "purpose", "weekdays", "data_class")


@dataclass(frozen=True)
class DatasetFacts:
    """What the data-aware rules need to know about one dataset (its latest version)."""

    slug: str
    structure_class: str
    attribute_classes: dict[str, dict[str, str]]  # {"nodes": {attr: class}, "edges": {...}}
    nodes: int
    max_degree: int
    largest_component: int

    def classes(self) -> set[str]:
        return {
            self.structure_class,
            *self.attribute_classes["nodes"].values(),
            *self.attribute_classes["edges"].values(),
        }

    def tier1_attributes(self) -> list[tuple[str, str]]:
        found = {(a, c) for side in ("nodes", "edges") for a, c in self.attribute_classes[side].items() if c in TIER1}
        return sorted(found)


@dataclass(frozen=True)
class Finding:
    code: str
    line: int
    column: int
    path: str
    message: str
    item: str = ""  # the id of the rule, constraint or JIT rule it is about
    related: tuple[str, ...] = field(default_factory=tuple)

    @property
    def severity(self) -> str:
        return RULES[self.code][0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "title": RULES[self.code][1],
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "item": self.item,
            "related": list(self.related),
            "message": self.message,
            "docs": f"lac-lint.md#{self.code.lower()}",
        }


def _implies(a: dict[str, Any], a_effect: str, b: dict[str, Any], b_effect: str) -> bool:
    """Does every request that satisfies conditions ``a`` (of an ``a_effect`` rule) satisfy
    conditions ``b`` (of a ``b_effect`` rule)? Only ``True`` when provable (engine semantics)."""
    for key, want in b.items():
        have = a.get(key)
        if have is None:
            return False
        if key in _SET_KEYS:
            # role/group: holds any listed; data_class: allow ⊆ listed, deny ∩ listed — for
            # every pairing the listed sets must nest (a touched set may be one class).
            if not set(have) <= set(want):
                return False
        elif key == "clearance":
            if have["min"] < want["min"]:
                return False
        elif key == "hours":
            if have["from"] < want["from"] or have["to"] > want["to"]:
                return False
        elif key == "max_dataset_age_days":
            # An allow rule needs age <= n, a deny rule fires at age > n.
            if a_effect != b_effect or (have > want if a_effect == "allow" else have < want):
                return False
        else:  # pragma: no cover - a condition added to the language but not here
            return False
    return True


class _Linter:
    def __init__(self, source: str, policy: CompiledPolicy, datasets: tuple[DatasetFacts, ...]) -> None:
        self.doc = policy.document
        self.policy = policy
        self.root = yaml.compose(source, Loader=LOADER)
        self.datasets = datasets
        self.findings: list[Finding] = []
        self.index = {
            (section, item["id"]): i for section in ("rules", "jit") for i, item in enumerate(self.doc.get(section, []))
        }

    def add(self, code: str, path: list[Any], message: str, item: str, *related: str, at_key: bool = False) -> None:
        line, column = _mark_for(self.root, path, at_key=at_key)
        self.findings.append(Finding(code, line, column, "/".join(map(str, path)), message, item, tuple(related)))

    def where(self, section: str, item_id: str) -> list[Any]:
        return [section, self.index[(section, item_id)]]

    def reachability(self) -> None:
        p = self.policy
        for n, rule in enumerate(p.deny):
            earlier = next((d for d in p.deny[:n] if _implies(rule.when, "deny", d.when, "deny")), None)
            if earlier is not None:
                self.add(
                    "LAC101",
                    self.where("rules", rule.id),
                    f"Deny rule “{rule.id}” is shadowed by “{earlier.id}”: every query it denies, “{earlier.id}” "
                    "(earlier) already denies, so decisions never name it.",
                    rule.id,
                    earlier.id,
                )
        allowing = [("rules", r.id, r.when) for r in p.allow] + [("jit", j.id, j.when) for j in p.jit]
        for n, (section, rule_id, when) in enumerate(allowing):
            kind = "JIT rule" if section == "jit" else "Allow rule"
            deny = next((d for d in p.deny if _implies(when, "allow", d.when, "deny")), None)
            if deny is not None:
                self.add(
                    "LAC102",
                    self.where(section, rule_id),
                    f"{kind} “{rule_id}” can never allow anything: every query it matches is denied by “{deny.id}” "
                    "(deny beats allow).",
                    rule_id,
                    deny.id,
                )
                continue
            before = next((a for a in allowing[:n] if _implies(when, "allow", a[2], "allow")), None)
            if before is not None:
                what = "allows" if before[0] == "rules" else "sends to just-in-time approval"
                self.add(
                    "LAC101",
                    self.where(section, rule_id),
                    f"{kind} “{rule_id}” is shadowed by “{before[1]}”: every query it matches, “{before[1]}” "
                    f"(checked first) already {what}, so it never decides.",
                    rule_id,
                    before[1],
                )

    def documentation(self) -> None:
        for i, rule in enumerate(self.doc.get("rules", [])):
            if rule["effect"] == "allow" and "purpose" not in rule.get("when", {}):
                path = ["rules", i, "when"] if "when" in rule else ["rules", i]
                self.add(
                    "LAC103",
                    path,
                    f"Allow rule “{rule['id']}” does not say for which purpose: add `purpose: [...]` "
                    "so it allows only the work it was written for.",
                    rule["id"],
                    at_key="when" in rule,
                )
            if rule["effect"] == "deny" and not str(rule.get("description", "")).strip():
                self.add(
                    "LAC104",
                    ["rules", i],
                    f"Deny rule “{rule['id']}” has no description: say in `description:` why it refuses, "
                    "so reviewers and readers of the decision log know what it protects.",
                    rule["id"],
                )
        for i, jit in enumerate(self.doc.get("jit", [])):
            if "purpose" not in jit["when"]:
                self.add(
                    "LAC103",
                    ["jit", i, "when"],
                    f"JIT rule “{jit['id']}” does not say for which purpose: add `purpose: [...]`.",
                    jit["id"],
                    at_key=True,
                )
            if not jit.get("fallback_groups"):
                self.add(
                    "LAC107",
                    ["jit", i],
                    f"JIT rule “{jit['id']}” has no `fallback_groups`: when its approvers do not answer, "
                    "escalation reaches nobody new and the request is refused when max_wait_minutes runs out.",
                    jit["id"],
                )

    def _covered(self, attribute: str, data_class: str) -> bool:
        return any(m.covers(attribute, data_class) for m in self.policy.minimize)

    def tier1(self) -> None:
        allowing = [("rules", r.id, r.when) for r in self.policy.allow] + [
            ("jit", j.id, j.when) for j in self.policy.jit
        ]
        for section, rule_id, when in allowing:
            admitted = set(when.get("data_class", ["P0", "P1", "P2", "P3"])) & TIER1
            if not admitted:
                continue
            path = (
                [*self.where(section, rule_id), "when", "data_class"]
                if "data_class" in when
                else self.where(section, rule_id)
            )
            if self.datasets:
                missing = [
                    f"{d.slug}.{a} ({c})"
                    for d in self.datasets
                    if "dataset" not in when or d.slug in when["dataset"]
                    for a, c in d.tier1_attributes()
                    if c in admitted and not self._covered(a, c)
                ]
                if missing:
                    self.add(
                        "LAC105",
                        path,
                        f"“{rule_id}” lets Tier-1 attributes through with no minimize rule covering them: "
                        f"{', '.join(missing)}. Add a hash, mask or redact rule for each.",
                        rule_id,
                    )
                continue
            # Without dataset facts only the certain case: nothing in minimize can cover the class.
            by_name = any(m.attributes for m in self.policy.minimize)
            bare = sorted(
                c for c in admitted if not by_name and not any(c in m.data_classes for m in self.policy.minimize)
            )
            if bare:
                self.add(
                    "LAC105",
                    path,
                    f"“{rule_id}” admits {', '.join(bare)} data but no minimize rule covers it: add one with "
                    f"`applies_to: {{data_class: [{', '.join(bare)}]}}` or naming the attributes.",
                    rule_id,
                )

    def dead_constraints(self) -> None:
        for i, c in enumerate(self.policy.constraints):
            scope = c.applies_to
            applicable = [
                d
                for d in self.datasets
                if ("dataset" not in scope or d.slug in scope["dataset"])
                and ("data_class" not in scope or d.classes() & set(scope["data_class"]))
            ]
            if not applicable or "view" in scope or c.max_result_denials is not None:
                continue
            limits: dict[str, tuple[int | None, int, str]] = {
                "max_degree": (c.max_degree, max(d.max_degree for d in applicable), "largest degree"),
                "max_component_size": (
                    c.max_component_size,
                    max(d.largest_component for d in applicable),
                    "largest component",
                ),
                "max_cumulative_component": (
                    c.max_cumulative_component,
                    max(d.largest_component for d in applicable),
                    "largest component",
                ),
                "max_path_length": (c.max_path_length, MAX_HOPS, "hops a query may ask for"),
                "max_results": (c.max_results, MAX_WINDOW, "offset + top_k a query may ask for"),
            }
            given = {k: (v[0], v[1], v[2]) for k, v in limits.items() if v[0] is not None}
            if given and all(limit >= most for limit, most, _ in given.values()):
                first = next(iter(given))
                names = ", ".join(d.slug for d in applicable)
                why = "; ".join(f"{k} {limit} ≥ {what} {most}" for k, (limit, most, what) in given.items())
                self.add(
                    "LAC106",
                    ["constraints", i, first],
                    f"Constraint “{c.id}” can never fire on {names}: {why}. Lower the limit or remove it.",
                    c.id,
                    at_key=True,
                )


def lint_source(
    source: str, datasets: Iterable[DatasetFacts] = (), *, compiled: CompiledPolicy | None = None
) -> list[Finding]:
    """Every finding for ``source`` (``compiled``: its compiled form, if the caller has it), by
    line and column. Raises PolicySyntaxError when the source is not a valid policy (fix those
    problems first)."""
    linter = _Linter(source, compiled or compile_policy(source), tuple(datasets))
    linter.reachability()
    linter.documentation()
    linter.tier1()
    linter.dead_constraints()
    return sorted(linter.findings, key=lambda f: (f.line, f.column, f.code))
