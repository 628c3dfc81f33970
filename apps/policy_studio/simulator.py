"""Dry-run a proposed policy version against the decision history.

Each stored query run carries masked facts: the subject's attributes, the resource's, the
context, the plan statistics of its seeds and, when it ran, the exact observations of its
result. Re-deciding under two policy versions from those facts needs no data access and no
re-execution, so it costs microseconds per decision. A run that was denied before execution
has no observations; if a version would let it through the plan, the simulator says the
result-stage checks are unknown rather than guessing.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .compiled import compiled
from .decide import decide_before_execution, decide_on_result
from .lac import constraints as lac_constraints
from .lac import minimize as lac_minimize
from .lac.engine import Resource, Subject
from .models import PolicyVersion


@dataclass(frozen=True)
class PastDecision:
    """What the simulator reads of one stored query run. The runs live in apps.queries, which
    hands them in through ``hooks.decision_history``; the simulator never imports them."""

    run_id: int
    created_at: Any
    username: str
    dataset: str
    facts: dict[str, Any]
    attribute_classes: dict[str, str]  # node and edge attributes of the run's dataset version


@dataclass
class SimulatedOutcome:
    outcome: str  # allow | deny | allow_unverified
    codes: list[str]
    explanation: str
    violations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SimulationRow:
    run_id: int
    created_at: Any
    username: str
    dataset: str
    a: SimulatedOutcome
    b: SimulatedOutcome
    minimization_changes: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.a.outcome != self.b.outcome or bool(self.minimization_changes)


@dataclass
class Simulation:
    version_a: PolicyVersion | None
    version_b: PolicyVersion
    rows: list[SimulationRow]
    seconds: float

    @property
    def changed(self) -> list[SimulationRow]:
        return [r for r in self.rows if r.changed]

    def summary(self) -> dict[str, Any]:
        flips = [r for r in self.rows if r.a.outcome != r.b.outcome]
        return {
            "decisions": len(self.rows),
            "changed": len(self.changed),
            "newly_denied": sum(1 for r in flips if r.b.outcome == "deny"),
            "newly_allowed": sum(1 for r in flips if r.b.outcome != "deny"),
            "minimization_changed": sum(1 for r in self.rows if r.minimization_changes),
            "seconds": round(self.seconds, 4),
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "run_id",
                "created_at",
                "user",
                "dataset",
                "outcome_a",
                "outcome_b",
                "codes_a",
                "codes_b",
                "minimization_changes",
            ]
        )
        for r in self.changed:
            writer.writerow(
                [
                    r.run_id,
                    r.created_at.isoformat(),
                    r.username,
                    r.dataset,
                    r.a.outcome,
                    r.b.outcome,
                    " ".join(r.a.codes),
                    " ".join(r.b.codes),
                    "; ".join(f"{c['attribute']}: {c['a']} → {c['b']}" for c in r.minimization_changes),
                ]
            )
        return out.getvalue()


def replay(version: PolicyVersion | None, facts: dict[str, Any]) -> SimulatedOutcome:
    """One stored decision re-decided under ``version`` (none: nothing in force, default deny)."""
    if version is None:
        return SimulatedOutcome("deny", ["NO_ACTIVE_POLICY"], "No policy version in force (default deny).")
    return _replay(version, facts)


def minimization_changes(
    a: PolicyVersion | None, b: PolicyVersion, classes: dict[str, str], fields: set[str]
) -> list[dict[str, str]]:
    """Per attribute, the transform under ``a`` and under ``b`` where they differ."""
    chosen_a, wide_a = lac_minimize.plan_steps(compiled(a).minimize if a else (), classes, fields)
    chosen_b, wide_b = lac_minimize.plan_steps(compiled(b).minimize, classes, fields)
    changes = []
    for attribute in sorted(fields):
        ta, tb = _describe(chosen_a.get(attribute)), _describe(chosen_b.get(attribute))
        if ta != tb:
            changes.append({"attribute": attribute, "a": ta, "b": tb})
    if _describe(wide_a) != _describe(wide_b):
        changes.append({"attribute": "(result)", "a": _describe(wide_a), "b": _describe(wide_b)})
    return changes


def _replay(version: PolicyVersion, facts: dict[str, Any]) -> SimulatedOutcome:
    policy = compiled(version)
    s, r, q, p = facts["subject"], facts["resource"], facts["query"], facts["plan"]
    subject = Subject(s["username"], frozenset(s["roles"]), frozenset(s["groups"]), s["clearance"])
    resource = Resource(
        r["dataset"], r["view"], frozenset(r["data_classes"]), r["license"], r["legal_authority"], r["dataset_age_days"]
    )
    seed_stats = {f"seed{i}": tuple(v) for i, v in enumerate(p["seed_stats"])}
    plan = lac_constraints.PlanFacts(
        seeds=list(seed_stats),
        hops=q["hops"],
        filtered=p["filtered"],
        top_k=q["top_k"],
        offset=q["offset"],
        seed_stats=seed_stats,  # type: ignore[arg-type]
        component_sizes=[],
        component_max_degree=[],
        component_hub=[],
    )
    pairs = [(version, policy)]
    [outcome] = decide_before_execution(
        pairs, subject, resource, facts["context"], plan, facts.get("view_violations", [])
    )
    if outcome.allowed and facts.get("observed"):
        decide_on_result([outcome], pairs, resource, facts["observed"])
    elif outcome.allowed:
        return SimulatedOutcome(
            "allow_unverified",
            outcome.codes,
            "Passes access rules and plan checks; result checks unknown (the query never ran).",
        )
    return SimulatedOutcome(
        "allow" if outcome.allowed else "deny", outcome.codes, outcome.explanation, outcome.violations
    )


def _minimization_changes(a: PolicyVersion | None, b: PolicyVersion, run: PastDecision) -> list[dict[str, str]]:
    return minimization_changes(a, b, run.attribute_classes, set(run.facts["query"]["fields"]))


def _describe(rule: lac_minimize.MinimizeRule | None) -> str:
    if rule is None:
        return "shown as is"
    params = ", ".join(f"{k}={v}" for k, v in sorted(rule.params.items()))
    return f"{rule.transform}({params})" if params else rule.transform


def simulate(version_a: PolicyVersion | None, version_b: PolicyVersion, runs: Iterable[PastDecision]) -> Simulation:
    """Re-decide each past run (newest first, as given) under both versions."""
    started = time.perf_counter()
    rows = []
    for run in runs:
        if not run.facts.get("subject"):
            continue
        rows.append(
            SimulationRow(
                run_id=run.run_id,
                created_at=run.created_at,
                username=run.username,
                dataset=run.dataset,
                a=replay(version_a, run.facts),
                b=_replay(version_b, run.facts),
                minimization_changes=_minimization_changes(version_a, version_b, run),
            )
        )
    return Simulation(version_a, version_b, rows, time.perf_counter() - started)
