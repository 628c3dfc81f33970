"""The policy's own tests (pure; no Django): each case in the ``tests:`` section is an example
request (subject, resource, purpose, time) with the decision it must get and, optionally,
reason codes the decision must carry. Like ``opa test``, the run reports rule coverage: which
access and JIT rules decided at least one case.

A case is decided by the access rules (``evaluate_access``): deny beats allow, default deny,
JIT rules deny with ``JIT_REQUIRED`` (a case has no grant). Constraints and minimization
depend on the data and are checked by the other promotion gates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .engine import Resource, Subject, evaluate_access
from .language import WEEKDAYS, CompiledPolicy, compile_policy


@dataclass(frozen=True)
class CaseResult:
    id: str
    expect: str
    got: str
    codes: tuple[str, ...]
    missing_reasons: tuple[str, ...]
    decided_by: str | None  # the rule that decided, if one did

    @property
    def ok(self) -> bool:
        return self.expect == self.got and not self.missing_reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ok": self.ok,
            "expect": self.expect,
            "got": self.got,
            "codes": list(self.codes),
            "missing_reasons": list(self.missing_reasons),
            "decided_by": self.decided_by,
        }


@dataclass
class TestReport:
    cases: list[CaseResult] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # every access and JIT rule id
    covered: set[str] = field(default_factory=set)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    @property
    def coverage_percent(self) -> float:
        return 100.0 if not self.rules else round(100.0 * len(self.covered & set(self.rules)) / len(self.rules), 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": len(self.cases),
            "failed": len(self.failed),
            "results": [c.as_dict() for c in self.cases],
            "rule_coverage": {
                "percent": self.coverage_percent,
                "covered": sorted(self.covered & set(self.rules)),
                "uncovered": [r for r in self.rules if r not in self.covered],
            },
        }


def _when(case: dict[str, Any]) -> datetime:
    """A moment on the case's weekday and hour (defaults: Wednesday, noon UTC)."""
    monday = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    day = WEEKDAYS.index(case.get("weekday", "wed"))
    return monday + timedelta(days=day, hours=case.get("hour", 12))


def run_case(policy: CompiledPolicy, case: dict[str, Any]) -> CaseResult:
    s, r = case.get("subject", {}), case.get("resource", {})
    subject = Subject("test", frozenset(s.get("role", [])), frozenset(s.get("group", [])), s.get("clearance", 0))
    resource = Resource(
        dataset=r.get("dataset", "test"),
        view=r.get("view"),
        data_classes=frozenset(r.get("data_class", ["P3"])),
        license=r.get("license", ""),
        legal_authority=r.get("legal_authority", ""),
        dataset_age_days=r.get("age_days", 0),
    )
    now = _when(case)
    context = {"purpose": case.get("purpose", ""), "hour": now.hour, "weekday": WEEKDAYS[now.weekday()]}
    result = evaluate_access(policy, subject, resource, context)
    got = "allow" if result.allowed else "deny"
    missing = tuple(code for code in case.get("reasons", []) if code not in result.codes)
    return CaseResult(case["id"], case["expect"], got, tuple(result.codes), missing, next(iter(result.matched), None))


def run_tests(source: str, cases: list[dict[str, Any]] | None = None) -> TestReport:
    """Run ``cases`` (default: the source's own ``tests:``) against the policy in ``source``."""
    policy = compile_policy(source)
    report = TestReport(rules=[r.id for r in (*policy.deny, *policy.allow)] + [j.id for j in policy.jit])
    for case in policy.document.get("tests", []) if cases is None else cases:
        result = run_case(policy, case)
        report.cases.append(result)
        if result.decided_by:
            report.covered.add(result.decided_by)
    return report
