"""The pure decide functions: which policies are in force, who the subject is, and each
policy's outcome before execution and on the result. The query pipeline (apps.queries)
and the simulator both call them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from .compiled import compiled
from .environments import prod_name, running_version_ids
from .lac import constraints as lac_constraints
from .lac.engine import Context, GrantFacts, Resource, Subject, constraint_applies, evaluate_access
from .lac.language import CompiledPolicy
from .models import PolicyVersion, SubjectAttributes


def subject_for(user: AbstractBaseUser, roles: frozenset[str]) -> Subject:
    attrs = SubjectAttributes.objects.filter(user=user).first()
    return Subject(
        username=user.get_username(),
        roles=frozenset(roles),
        groups=frozenset(attrs.groups if attrs else ()),
        clearance=attrs.clearance if attrs else 0,
    )


def active_policies(environment: str | None = None) -> list[tuple[PolicyVersion, CompiledPolicy]]:
    """What ``environment`` runs (prod when none), enforce policies first."""
    ids = running_version_ids(environment or prod_name())
    versions = PolicyVersion.objects.filter(pk__in=ids).select_related("policy")
    ordered = sorted(versions, key=lambda v: (v.mode != "enforce", v.policy.slug))
    return [(v, compiled(v)) for v in ordered]


@dataclass
class PolicyOutcome:
    version: PolicyVersion | None
    mode: str
    allowed: bool = True
    stage: str = "access"
    codes: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)  # why it was denied (the auditor's words)
    subject_sentences: list[str] = field(default_factory=list)  # the same, as the subject reads it
    basis: str = ""  # which access rule allowed it, if one did
    grant_id: int | None = None
    jit_rule: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)
    elapsed_us: int = 0

    @property
    def explanation(self) -> str:
        return self.basis if self.allowed else " ".join(self.sentences)

    @property
    def subject_explanation(self) -> str:
        return self.basis if self.allowed else " ".join(self.subject_sentences or self.sentences)

    def deny(self, stage: str, code: str, sentence: str, subject_sentence: str | None = None) -> None:
        self.allowed, self.stage = False, stage
        self.codes.append(code)
        self.sentences.append(sentence)
        self.subject_sentences.append(subject_sentence or sentence)


_REQUEST_SENTENCES = {
    "FILTER_FINER_THAN_RELEASE": (
        "A filter tests an attribute more precisely than the attribute is released "
        "(filter on whole buckets or periods, never on masked, hashed or redacted values)."
    ),
}
_VIEW_SENTENCE = "The query asks for more than its view allows (views can only be narrowed)."


def decide_before_execution(
    policies: list[tuple[PolicyVersion, CompiledPolicy]],
    subject: Subject,
    resource: Resource,
    context: Context | dict[str, Any],
    facts: lac_constraints.PlanFacts,
    view_violations: list[dict[str, Any]],
    grants: tuple[GrantFacts, ...] = (),
) -> list[PolicyOutcome]:
    """Access rules, the query's own contract (view, filter release) and plan-time constraints,
    per policy. Pure given its inputs, so the simulator calls it too."""
    outcomes = []
    for version, policy in policies:
        started = time.perf_counter_ns()
        out = PolicyOutcome(version, policy.mode)
        access = evaluate_access(policy, subject, resource, context, grants)
        out.grant_id, out.jit_rule = access.grant_id, access.jit_rule
        out.codes += access.codes
        out.basis = " ".join(access.sentences) if access.allowed else ""
        if view_violations:
            # The query's contract comes first: a view may only be narrowed, a filter may be
            # no finer than the release of what it tests.
            out.allowed, out.stage = False, "plan"
            said = set()
            for v in view_violations:
                out.codes.append(v["code"])
                out.violations.append(v)
                sentence = _REQUEST_SENTENCES.get(v["code"], _VIEW_SENTENCE)
                if sentence not in said:
                    said.add(sentence)
                    out.sentences.append(sentence)
                    out.subject_sentences.append(sentence)
        if not access.allowed:
            out.allowed = False
            out.sentences += access.sentences
            out.subject_sentences += access.sentences
        if out.allowed:
            for constraint in policy.constraints:
                if not constraint_applies(constraint, resource):
                    continue
                for violation in lac_constraints.check_plan(constraint, facts):
                    out.deny("plan", violation.code, violation.sentence(), violation.subject_sentence())
                    out.violations.append(violation.as_dict())
        out.elapsed_us = (time.perf_counter_ns() - started) // 1000
        outcomes.append(out)
    return outcomes


def decide_on_result(
    outcomes: list[PolicyOutcome],
    policies: list[tuple[PolicyVersion, CompiledPolicy]],
    resource: Resource,
    observed: dict[str, Any],
) -> None:
    for out, (_, policy) in zip(outcomes, policies, strict=True):
        if not out.allowed:
            continue
        started = time.perf_counter_ns()
        for constraint in policy.constraints:
            if not constraint_applies(constraint, resource):
                continue
            for violation in lac_constraints.check_result(constraint, observed):
                out.deny("result", violation.code, violation.sentence(), violation.subject_sentence())
                out.violations.append(violation.as_dict())
        out.elapsed_us += (time.perf_counter_ns() - started) // 1000


def _needs_exposure(policies: list[tuple[PolicyVersion, CompiledPolicy]]) -> bool:
    return any(
        c.max_cumulative_component is not None or c.max_degree is not None for _, p in policies for c in p.constraints
    )


def _no_enforce_policy() -> PolicyOutcome:
    out = PolicyOutcome(None, "enforce")
    out.deny(
        "access",
        "NO_ENFORCE_POLICY",
        "Only monitor-mode policies are in force, and monitor mode never allows anything by itself: "
        "nothing is allowed until an enforce policy allows it (default deny).",
    )
    return out
