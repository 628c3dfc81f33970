"""Reads for the Studio: policies, history, and the Tier-1 coverage report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from apps.graphs.models import TIER1_CLASSES, GraphView

from .compiled import compiled
from .models import Policy, PolicyVersion


def policies() -> QuerySet[Policy]:
    return Policy.objects.select_related("active_version").order_by("name")


def policy_versions(policy: Policy) -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(policy=policy).select_related("created_by").order_by("-number")


@dataclass
class CoverageRow:
    view: GraphView
    tier1_fields: dict[str, str]  # field -> data class
    rules: dict[str, str | None]  # field -> "policy/rule" that minimizes it, or None

    @property
    def covered(self) -> bool:
        return all(self.rules.values())


@dataclass
class CoverageReport:
    rows: list[CoverageRow]

    @property
    def tier1_views(self) -> int:
        return len(self.rows)

    @property
    def covered_views(self) -> int:
        return sum(1 for r in self.rows if r.covered)

    @property
    def percent(self) -> float:
        return 100.0 if not self.rows else round(100.0 * self.covered_views / self.tier1_views, 1)

    @property
    def ok(self) -> bool:
        return self.covered_views == self.tier1_views

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier1_views": self.tier1_views,
            "covered_views": self.covered_views,
            "percent": self.percent,
            "ok": self.ok,
            "views": [
                {
                    "view": r.view.slug,
                    "dataset": r.view.dataset.slug,
                    "fields": r.tier1_fields,
                    "rules": r.rules,
                    "covered": r.covered,
                }
                for r in self.rows
            ],
        }


def tier1_coverage(versions: list[PolicyVersion] | None = None) -> CoverageReport:
    """Every Tier-1 view (its fields include P0/P1) and, per such field, the first enforce-mode
    minimization rule that covers it. Computed from what is active (or from ``versions``, one
    per policy: what an environment would run), never declared."""
    if versions is None:
        versions = [p.active_version for p in policies() if p.active_version is not None]
    active = [(v.policy.slug, compiled(v)) for v in versions if v.mode == "enforce"]
    rows = []
    for view in GraphView.objects.select_related("dataset").order_by("slug"):
        version = view.dataset.latest_version
        if version is None:
            continue
        tier1 = {f: c for f in view.fields if (c := version.class_of(f)) in TIER1_CLASSES}
        if not tier1:
            continue
        rules: dict[str, str | None] = {}
        for field_name, data_class in tier1.items():
            rules[field_name] = next(
                (
                    f"{slug}/{rule.id}"
                    for slug, policy in active
                    for rule in policy.minimize
                    if rule.covers(field_name, data_class)
                ),
                None,
            )
        rows.append(CoverageRow(view, tier1, rules))
    return CoverageReport(rows)
