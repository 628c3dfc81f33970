"""Attribute-based access decisions (pure; no Django). Deny beats allow; default deny.

Condition semantics inside ``when`` (all listed conditions must hold):
role/group — the subject holds any listed; clearance.min — at least; dataset/view/license/
legal_authority/purpose — the value is listed; data_class — for an *allow* rule every class
the query touches must be listed, for a *deny* rule touching any listed class triggers it;
hours — UTC hour in [from, to); weekdays — today is listed; max_dataset_age_days — an allow
rule requires the dataset version to be at most that old, a deny rule fires when it is older.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .language import WEEKDAYS, CompiledPolicy, Constraint, Rule


@dataclass(frozen=True)
class Subject:
    username: str
    roles: frozenset[str]
    groups: frozenset[str] = frozenset()
    clearance: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "roles": sorted(self.roles),
            "groups": sorted(self.groups),
            "clearance": self.clearance,
        }


@dataclass(frozen=True)
class Resource:
    dataset: str
    view: str | None
    data_classes: frozenset[str]
    license: str
    legal_authority: str
    dataset_age_days: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "view": self.view,
            "data_classes": sorted(self.data_classes),
            "license": self.license,
            "legal_authority": self.legal_authority,
            "dataset_age_days": self.dataset_age_days,
        }


@dataclass(frozen=True)
class Context:
    purpose: str
    now: datetime
    grant: int | None = None  # the JIT grant the query names
    reason_sha256: str = ""  # of the query's stated reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "hour": self.now.hour,
            "weekday": WEEKDAYS[self.now.weekday()],
            "grant": self.grant,
            "reason_sha256": self.reason_sha256,
        }


@dataclass(frozen=True)
class GrantFacts:
    """An active just-in-time grant held by the subject (expiry already checked at plan time)."""

    id: int
    rule_id: str
    dataset: str
    data_classes: frozenset[str]
    purpose: str
    reason_sha256: str = ""  # the reason bound into the grant at request time

    def covers(self, rule_id: str, r: Resource, purpose: str) -> bool:
        return (
            self.rule_id == rule_id
            and self.dataset == r.dataset
            and self.purpose == purpose
            and r.data_classes <= self.data_classes
        )


@dataclass
class AccessResult:
    allowed: bool
    codes: list[str]
    sentences: list[str]
    matched: list[str] = field(default_factory=list)
    grant_id: int | None = None
    jit_rule: str | None = None


def _failures(rule: Rule, s: Subject, r: Resource, c: dict[str, Any]) -> list[tuple[str, str]]:
    """The conditions of ``rule`` that do not hold, as (condition, explanation)."""
    w = rule.when
    deny = rule.effect == "deny"
    fails = []
    if "role" in w and not (s.roles & set(w["role"])):
        fails.append(("role", f"needs role {' or '.join(w['role'])}"))
    if "group" in w and not (s.groups & set(w["group"])):
        fails.append(("group", f"needs group {' or '.join(w['group'])}"))
    if "clearance" in w and s.clearance < w["clearance"]["min"]:
        fails.append(("clearance", f"needs clearance {w['clearance']['min']} (you have {s.clearance})"))
    for key, value, label in (
        ("dataset", r.dataset, "dataset"),
        ("view", r.view, "view"),
        ("license", r.license, "license"),
        ("legal_authority", r.legal_authority, "legal authority"),
        ("purpose", c["purpose"], "purpose"),
    ):
        if key in w and value not in w[key]:
            fails.append((key, f"{label} must be {' or '.join(w[key])} (was {value or 'none'})"))
    if "data_class" in w:
        listed = set(w["data_class"])
        ok = bool(r.data_classes & listed) if deny else r.data_classes <= listed
        if not ok:
            extra = sorted(r.data_classes - listed) if not deny else sorted(listed)
            fails.append(
                ("data_class", f"data classes allowed: {', '.join(sorted(listed))}; query touches {', '.join(extra)}")
            )
    if "hours" in w and not (w["hours"]["from"] <= c["hour"] < w["hours"]["to"]):
        fails.append(("hours", f"only between {w['hours']['from']}:00 and {w['hours']['to']}:00 UTC"))
    if "weekdays" in w and c["weekday"] not in w["weekdays"]:
        fails.append(("weekdays", f"only on {', '.join(w['weekdays'])}"))
    if "max_dataset_age_days" in w:
        too_old = r.dataset_age_days > w["max_dataset_age_days"]
        if too_old != deny:
            fails.append(
                ("max_dataset_age_days", f"data older than {w['max_dataset_age_days']} days is out of retention")
            )
    return fails


def evaluate_access(
    policy: CompiledPolicy, s: Subject, r: Resource, ctx: Context | dict[str, Any], grants: tuple[GrantFacts, ...] = ()
) -> AccessResult:
    c = ctx.as_dict() if isinstance(ctx, Context) else ctx
    for rule in policy.deny:
        if not _failures(rule, s, r, c):
            code = "RETENTION_EXPIRED" if "max_dataset_age_days" in rule.when else "RULE_DENY"
            return AccessResult(False, [code, f"rule:{rule.id}"], [f"Denied by rule “{rule.id}”."], [rule.id])
    closest: tuple[int, Rule, list[tuple[str, str]]] | None = None
    for rule in policy.allow:
        fails = _failures(rule, s, r, c)
        if not fails:
            return AccessResult(True, [f"rule:{rule.id}"], [f"Allowed by rule “{rule.id}”."], [rule.id])
        if closest is None or len(fails) < closest[0]:
            closest = (len(fails), rule, fails)
    for jit in policy.jit:
        if _failures(jit, s, r, c):  # type: ignore[arg-type]
            continue
        named = c.get("grant")
        grant = next((g for g in grants if g.id == named), None) if named is not None else None
        if named is not None and (grant is None or not grant.covers(jit.id, r, c["purpose"])):
            # A named grant that is not the subject's, not active, or not for this scope.
            return AccessResult(
                False,
                ["GRANT_NOT_APPLICABLE", f"rule:{jit.id}"],
                [f"Grant #{named} is not an active grant of yours for this dataset, purpose and data."],
                [jit.id],
                jit_rule=jit.id,
            )
        if grant is not None and grant.reason_sha256 and grant.reason_sha256 != c.get("reason_sha256"):
            # The grant was approved for a stated reason; a query under it states that reason.
            return AccessResult(
                False,
                ["GRANT_REASON_MISMATCH", f"rule:{jit.id}", f"jit:{grant.id}"],
                [f"The reason given differs from the one grant #{grant.id} was approved for; state that reason."],
                [jit.id],
                jit_rule=jit.id,
            )
        if grant is not None:
            return AccessResult(
                True,
                [f"rule:{jit.id}", f"jit:{grant.id}"],
                [f"Allowed by rule “{jit.id}” under just-in-time grant #{grant.id}."],
                [jit.id],
                grant_id=grant.id,
                jit_rule=jit.id,
            )
        who = "two approvers" if jit.approvers == 2 else "one approver"
        held = any(g.covers(jit.id, r, c["purpose"]) for g in grants)
        hint = (
            " You hold a grant for this: name it in the query (“grant”) with the reason it was approved for."
            if held
            else ""
        )
        return AccessResult(
            False,
            ["JIT_REQUIRED", f"rule:{jit.id}"],
            [
                f"This needs just-in-time approval under rule “{jit.id}”: request access with a reason; {who} must approve."
                + hint
            ],
            [jit.id],
            jit_rule=jit.id,
        )
    if closest is None:
        return AccessResult(False, ["NO_MATCHING_ALLOW"], ["No rule in this policy allows any access (default deny)."])
    _, rule, fails = closest
    codes = ["NO_MATCHING_ALLOW"] + [f"CONDITION_FAILED:{name}" for name, _ in fails]
    reasons = "; ".join(text for _, text in fails)
    return AccessResult(False, codes, [f"No rule allows this. The closest, “{rule.id}”, {reasons}."])


def constraint_applies(constraint: Constraint, r: Resource) -> bool:
    scope = constraint.applies_to
    if "data_class" in scope and not (r.data_classes & set(scope["data_class"])):
        return False
    if "dataset" in scope and r.dataset not in scope["dataset"]:
        return False
    return not ("view" in scope and r.view not in scope["view"])
