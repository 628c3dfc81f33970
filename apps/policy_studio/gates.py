"""Promotion gates (docs/studio.md): each takes the candidate version and what the target
environment runs now (the base; none when it runs nothing) and returns
``{gate, ok, summary, details}``. A failed gate gets its insight from ``insights.explain``.

lint        hints' LAC lint (errors fail) with the tenant's dataset facts
tests       the policy's own ``tests:`` section, with rule coverage
redteam     the red-team corpus replayed under base and candidate: an attack case that the base
            denies and the candidate lets through (or shows with weaker minimization) fails
simulation  the target environment's decision history replayed: how many decisions change, in
            which direction, examples with the minimized output before/after; past allowed
            work the candidate would deny fails
coverage    Tier-1 coverage of what the target would run: lowering it fails
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import selectors
from .coaching import dataset_facts
from .environments import running_version_ids
from .hooks import decision_history, redteam_corpus
from .lac.language import PolicySyntaxError
from .lac.lint import lint_source
from .lac.policy_tests import run_tests
from .models import PolicyVersion
from .simulator import SimulatedOutcome, minimization_changes, replay, simulate

GATES = ("lint", "tests", "redteam", "simulation", "coverage")
EXAMPLES = 5


@dataclass
class GateInput:
    candidate: PolicyVersion
    base: PolicyVersion | None
    target_env: str


def _result(gate: str, ok: bool, text: str, **details: Any) -> dict[str, Any]:
    return {"gate": gate, "ok": ok, "summary": text, "details": details}


def gate_lint(g: GateInput) -> dict[str, Any]:
    try:
        findings = [f.as_dict() for f in lint_source(g.candidate.source, dataset_facts())]
    except PolicySyntaxError as exc:
        return _result("lint", False, "The policy does not compile.", problems=[p.as_dict() for p in exc.problems])
    errors = [f for f in findings if f["severity"] == "error"]
    summary = f"{len(errors)} error(s), {len(findings) - len(errors)} other finding(s)"
    return _result("lint", not errors, summary, findings=findings)


def gate_tests(g: GateInput) -> dict[str, Any]:
    report = run_tests(g.candidate.source).as_dict()
    if not report["cases"]:
        return _result("tests", True, "No tests: section (add example queries to test the policy).", **report)
    cov = report["rule_coverage"]["percent"]
    summary = f"{report['cases'] - report['failed']}/{report['cases']} cases pass; rule coverage {cov}%"
    return _result("tests", report["failed"] == 0, summary, **report)


def gate_redteam(g: GateInput) -> dict[str, Any]:
    regressions, changed, attacks = [], 0, 0
    # The reference: what the target runs, else what prod runs, else the corpus run itself
    # (recorded under the corpus's own policy, with 0 false negatives).
    reference = g.base or _prod_version(g.candidate)
    for case in redteam_corpus():
        attack = case["expect"] != "allow"
        attacks += attack
        for step in case["steps"]:
            after = replay(g.candidate, step["facts"])
            if reference is not None:
                before = replay(reference, step["facts"])
            else:
                denied = step["status"] == "denied"
                before = SimulatedOutcome("deny" if denied else "allow", after.codes, "as recorded by the corpus run")
            fields = set(step["facts"]["query"]["fields"])
            loosened = (
                minimization_changes(reference, g.candidate, step["classes"], fields)
                if reference is not None and before.outcome != "deny" and after.outcome != "deny"
                else []
            )
            if before.outcome != after.outcome or before.codes != after.codes or loosened:
                changed += 1  # benign cases count too: "0 decisions change" means all of them
            if attack and ((before.outcome == "deny" and after.outcome != "deny") or loosened):
                regressions.append(
                    {
                        "case": case["id"],
                        "pattern": case["pattern"],
                        "class": case["class"],
                        "before": before.outcome,
                        "after": after.outcome,
                        "before_codes": before.codes,
                        "after_codes": after.codes,
                        "minimization": loosened,
                    }
                )
                break
    summary = f"{len(regressions)} regression(s) over {attacks} attack cases; {changed} step decision(s) change"
    return _result("redteam", not regressions, summary, regressions=regressions, attacks=attacks, changed=changed)


def _prod_version(candidate: PolicyVersion) -> PolicyVersion | None:
    from .environments import prod_name, running_version

    return running_version(candidate.policy, prod_name())


def _row(r: Any) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "user": r.username,
        "dataset": r.dataset,
        "before": r.a.outcome,
        "after": r.b.outcome,
        "before_codes": r.a.codes,
        "after_codes": r.b.codes,
        "violations": r.b.violations,
        "minimization": r.minimization_changes,
    }


def gate_simulation(g: GateInput) -> dict[str, Any]:
    runs = decision_history(environment=g.target_env)
    sim = simulate(g.base, g.candidate, runs)
    summary = sim.summary()
    broken = [r for r in sim.rows if r.a.outcome != "deny" and r.b.outcome == "deny"]
    recoded = sum(1 for r in sim.rows if r.a.outcome == r.b.outcome and r.a.codes != r.b.codes)
    text = (
        f"{summary['changed']}/{summary['decisions']} past {g.target_env} decisions change: "
        f"{summary['newly_denied']} newly denied, {summary['newly_allowed']} newly allowed, "
        f"{summary['minimization_changed']} with other minimization"
    )
    return _result(
        "simulation",
        not broken,
        text,
        summary=summary,
        reason_codes_changed=recoded,
        examples=[_row(r) for r in sim.changed[:EXAMPLES]],
        newly_denied=[_row(r) for r in broken[:50]],
    )


def target_versions(g: GateInput, candidate: PolicyVersion | None) -> list[PolicyVersion]:
    """What the target environment would run with ``candidate`` in place of this policy's base."""
    ids = [i for i in running_version_ids(g.target_env) if not g.base or i != g.base.pk]
    versions = list(PolicyVersion.objects.filter(pk__in=ids).select_related("policy"))
    versions = [v for v in versions if v.policy_id != g.candidate.policy_id]
    return versions + ([candidate] if candidate else [])


def gate_coverage(g: GateInput) -> dict[str, Any]:
    before = selectors.tier1_coverage(target_versions(g, g.base)).as_dict()
    after = selectors.tier1_coverage(target_versions(g, g.candidate)).as_dict()
    was = {v["view"]: v for v in before["views"]}
    lost = [
        {
            "view": v["view"],
            "dataset": v["dataset"],
            "field": f,
            "class": v["fields"][f],
            "was": was[v["view"]]["rules"][f],
        }
        for v in after["views"]
        for f, rule in v["rules"].items()
        if rule is None and was.get(v["view"], {}).get("rules", {}).get(f)
    ]
    uncovered = [
        {"view": v["view"], "dataset": v["dataset"], "field": f, "class": v["fields"][f], "was": None}
        for v in after["views"]
        for f, rule in v["rules"].items()
        if rule is None
    ]
    ok = after["percent"] >= before["percent"] and not lost
    summary = f"Tier-1 coverage {before['percent']}% → {after['percent']}%"
    return _result(
        "coverage", ok, summary, before=before["percent"], after=after["percent"], lost=lost, uncovered=uncovered
    )


RUNNERS: dict[str, Callable[[GateInput], dict[str, Any]]] = {
    "lint": gate_lint,
    "tests": gate_tests,
    "redteam": gate_redteam,
    "simulation": gate_simulation,
    "coverage": gate_coverage,
}
