"""Minimization transforms, applied to a result after LAC allowed it (pure; no Django).

One transform per attribute: the first rule (in policy order) that names the attribute, or
its data class, wins. ``min_results`` is result-wide: fewer rows than ``min_count`` and the
rows are withheld. Bucketing can carry ``min_count`` too: a bucket holding fewer rows is
shown as ``suppressed`` so a narrow filter cannot single out one record by its bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .language import MinimizeRule

SUPPRESSED = "suppressed"
REDACTED = "[redacted]"


@dataclass(frozen=True)
class AppliedStep:
    rule_id: str
    transform: str
    attribute: str
    params: dict[str, Any]
    suppressed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "transform": self.transform,
            "attribute": self.attribute,
            "params": self.params,
            "suppressed": self.suppressed,
        }


def mask(value: Any, keep_last: int = 2) -> str:
    text = str(value)
    keep = min(keep_last, max(len(text) - 1, 0))
    return "•" * (len(text) - keep) + (text[-keep:] if keep else "")


def keyed_hash(value: Any, key: bytes) -> str:
    return "h:" + hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:16]


def bucket(value: Any, width: float | None = None, edges: list[float] | None = None) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return SUPPRESSED
    if width is not None:
        low = math.floor(value / width) * width
        low_s = int(low) if float(low).is_integer() else low
        high = low + width
        high_s = int(high) if float(high).is_integer() else high
        return f"[{low_s}, {high_s})"
    assert edges is not None
    if value < edges[0]:
        return f"< {edges[0]:g}"
    for lo, hi in pairwise(edges):
        if lo <= value < hi:
            return f"[{lo:g}, {hi:g})"
    return f">= {edges[-1]:g}"


def truncate_date(value: Any, unit: str) -> str:
    text = str(value)
    size = {"year": 4, "month": 7, "day": 10}[unit]
    if len(text) < size or not text[:4].isdigit():
        return SUPPRESSED
    return text[:size]


def plan_steps(
    rules: tuple[MinimizeRule, ...], attribute_classes: dict[str, str], present: set[str]
) -> tuple[dict[str, MinimizeRule], MinimizeRule | None]:
    """Which rule applies to which attribute (first match wins), and the result-wide rule."""
    chosen: dict[str, MinimizeRule] = {}
    result_wide = None
    for rule in rules:
        if rule.transform == "min_results":
            result_wide = result_wide or rule
            continue
        for attribute in sorted(present):
            if attribute not in chosen and rule.covers(attribute, attribute_classes.get(attribute)):
                chosen[attribute] = rule
    return chosen, result_wide


def apply(
    result: dict[str, Any], rules: tuple[MinimizeRule, ...], attribute_classes: dict[str, str], key: bytes
) -> tuple[dict[str, Any], list[AppliedStep]]:
    rows = result["nodes"] + result["edges"]
    present = {k for row in rows for k in row if k in attribute_classes}
    chosen, result_wide = plan_steps(rules, attribute_classes, present)
    steps: list[AppliedStep] = []
    if result_wide is not None and len(result["nodes"]) < result_wide.params["min_count"]:
        withheld = len(result["nodes"])
        steps.append(AppliedStep(result_wide.id, "min_results", "*", result_wide.params, withheld))
        return {**result, "nodes": [], "edges": [], "withheld": withheld}, steps
    for attribute, rule in sorted(chosen.items()):
        p = rule.params
        holders = [row for row in rows if attribute in row]
        suppressed = 0
        if rule.transform == "mask":
            for row in holders:
                row[attribute] = mask(row[attribute], p.get("keep_last", 2))
        elif rule.transform == "hash":
            for row in holders:
                row[attribute] = keyed_hash(row[attribute], key)
        elif rule.transform == "redact":
            for row in holders:
                row[attribute] = REDACTED
        elif rule.transform in ("bucket", "truncate_date"):
            for row in holders:
                row[attribute] = (
                    bucket(row[attribute], p.get("width"), p.get("edges"))
                    if rule.transform == "bucket"
                    else truncate_date(row[attribute], p["unit"])
                )
            if "min_count" in p:
                counts = Counter(row[attribute] for row in holders)
                for row in holders:
                    if counts[row[attribute]] < p["min_count"] and row[attribute] != SUPPRESSED:
                        row[attribute] = SUPPRESSED
                        suppressed += 1
        steps.append(AppliedStep(rule.id, rule.transform, attribute, p, suppressed))
    return result, steps
