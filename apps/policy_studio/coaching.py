"""Coaching for policy authors (reads only): lint findings with the tenant's dataset facts,
and hints from the decision history ("this rule denied 41% of last week's investigation
queries"), placed at the lines of the source being edited."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.core.errors import NotFound
from apps.graphs.models import Dataset, DatasetVersion

from .hooks import decision_rows
from .lac.diff import item_lines
from .lac.language import CompiledPolicy, PolicySyntaxError, compile_policy
from .lac.lint import DatasetFacts, lint_source
from .models import Policy

HISTORY_DAYS = 7
HISTORY_LIMIT = 20_000  # most recent decisions read per policy (bounds the editor's cost)
HISTORY_CACHE_SECONDS = 60


def dataset_facts(slugs: list[str] | None = None) -> list[DatasetFacts]:
    """Facts of the tenant's datasets (latest version each, one query, no blobs); an unknown
    slug is a 404."""
    datasets = Dataset.objects.order_by("slug")
    if slugs is not None:
        datasets = datasets.filter(slug__in=slugs)
        missing = sorted(set(slugs) - set(datasets.values_list("slug", flat=True)))
        if missing:
            raise NotFound(f"No dataset {missing[0]!r}.")
    newest = DatasetVersion.objects.filter(dataset=OuterRef("dataset")).order_by("-number").values("number")[:1]
    latest = DatasetVersion.objects.filter(dataset__in=datasets, number=Subquery(newest)).values_list(
        "dataset__slug", "dataset__structure_class", "attribute_classes", "node_count", "stats_summary"
    )
    return sorted(
        (
            DatasetFacts(
                slug=slug,
                structure_class=structure_class,
                attribute_classes=classes,
                nodes=nodes,
                max_degree=int(stats.get("max_degree", 0)),
                largest_component=int(stats.get("largest_component", 0)),
            )
            for slug, structure_class, classes, nodes, stats in latest
        ),
        key=lambda d: d.slug,
    )


def policy_summary(policy: CompiledPolicy) -> dict[str, Any]:
    return {
        "mode": policy.mode,
        "rules": len(policy.allow) + len(policy.deny),
        "constraints": len(policy.constraints),
        "minimize": len(policy.minimize),
    }


@dataclass(frozen=True)
class HistoryHint:
    section: str
    item: str
    line: int | None
    text: str
    decided: int
    of: int
    purpose: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "item": self.item,
            "line": self.line,
            "text": self.text,
            "decided": self.decided,
            "of": self.of,
            "purpose": self.purpose,
        }


Tally = tuple[Counter[str], dict[tuple[str, str], Counter[str]]]


def _tally_cached(policy: Policy, now: datetime) -> Tally:
    """:func:`_tally` of the last week, shared for ``HISTORY_CACHE_SECONDS``: the editor asks
    on every pause in typing, the history changes far more slowly."""
    key = f"studio:history:{policy.tenant_id}:{policy.pk}"
    found: Tally | None = cache.get(key)
    if found is None:
        found = _tally(policy, now - timedelta(days=HISTORY_DAYS))
        cache.set(key, found, HISTORY_CACHE_SECONDS)
    return found


def _tally(policy: Policy, since: datetime) -> Tally:
    """Decisions of any version of ``policy`` since ``since``: queries per purpose, and per
    (item, outcome) the queries per purpose it decided."""
    rows = decision_rows(policy_id=policy.pk, since=since, limit=HISTORY_LIMIT)
    totals: Counter[str] = Counter()
    by_item: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for outcome, codes, violations, purpose in rows:
        purpose = purpose or "unspecified"
        totals[purpose] += 1
        named = {c.removeprefix("rule:") for c in codes or [] if isinstance(c, str) and c.startswith("rule:")}
        named |= {v.get("constraint") for v in violations or [] if isinstance(v, dict) and v.get("constraint")}
        for item in named:
            by_item[(item, outcome)][purpose] += 1
    return totals, by_item


def history_hints(
    policy: Policy, source: str, *, compiled: CompiledPolicy | None = None, now: datetime | None = None
) -> list[HistoryHint]:
    """One hint per rule, JIT rule and constraint of ``source`` from the last week of ``policy``'s
    decisions: the share of one purpose's queries it denied (or allowed), or that it decided none."""
    try:
        doc = (compiled or compile_policy(source)).document
    except PolicySyntaxError:
        return []
    totals, by_item = _tally_cached(policy, now or timezone.now())
    if not totals:
        return []
    lines = item_lines(source)
    hints = []
    for section in ("rules", "jit", "constraints"):
        for item in doc.get(section, []):
            item_id = item["id"]
            line = lines.get((section, item_id))
            # An allow rule named in a denial let the query through to a constraint that then
            # denied it: count allow rules on allows only, deny rules and constraints on denials.
            outcomes = {"deny": ("deny",), "allow": ("allow",)}.get(item.get("effect", ""), ("deny", "allow"))
            if section == "constraints":
                outcomes = ("deny",)
            best = max(
                ((n, outcome, purpose) for outcome in outcomes for purpose, n in by_item[(item_id, outcome)].items()),
                default=None,
                key=lambda t: (t[0] / totals[t[2]], t[0]),
            )
            if best is None:
                total = sum(totals.values())
                text = f"Decided none of last week's {total} queries under this policy."
                hints.append(HistoryHint(section, item_id, line, text, 0, total, ""))
                continue
            n, outcome, purpose = best
            verb = "denied" if outcome == "deny" else "allowed"
            share = round(100 * n / totals[purpose])
            text = f"This {_noun(section)} {verb} {share}% of last week's {purpose} queries ({n} of {totals[purpose]})."
            hints.append(HistoryHint(section, item_id, line, text, n, totals[purpose], purpose))
    return hints


def _noun(section: str) -> str:
    return {"rules": "rule", "jit": "JIT rule", "constraints": "constraint"}[section]


def lint_report(source: str, *, datasets: list[str] | None = None, policy_slug: str | None = None) -> dict[str, Any]:
    """What the editor shows as you type: syntax problems, or lint findings and history hints."""
    policy = None
    if policy_slug:
        policy = Policy.objects.filter(slug=policy_slug).first()
        if policy is None:
            raise NotFound(f"No policy {policy_slug!r}.")
    facts = dataset_facts(datasets)
    try:
        compiled = compile_policy(source)
    except PolicySyntaxError as exc:
        return {"valid": False, "problems": [p.as_dict() for p in exc.problems], "findings": [], "hints": []}
    findings = lint_source(source, facts, compiled=compiled)
    hints = history_hints(policy, source, compiled=compiled) if policy else []
    return {
        "valid": True,
        "problems": [],
        "summary": policy_summary(compiled),
        "findings": [f.as_dict() for f in findings],
        "hints": [h.as_dict() for h in hints],
        "datasets": [d.slug for d in facts],
    }
