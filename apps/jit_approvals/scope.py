"""What a grant for a scope will and will not reveal, in words, for the request form and the
approval pages: the same facts the pipeline applies (the dataset's attribute classes and the
enforce-mode minimization rules in force), never a second copy of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.graphs.models import Dataset
from apps.policy_studio.decide import active_policies

WORDS = {
    "mask": "masked",
    "hash": "still hashed (you see a keyed hash, not the value)",
    "bucket": "shown in ranges",
    "truncate_date": "truncated",
    "redact": "removed",
}


@dataclass
class Reveal:
    shown: list[str] = field(default_factory=list)  # attributes shown as stored
    changed: list[tuple[str, str]] = field(default_factory=list)  # (attribute, how it arrives)
    withheld: list[str] = field(default_factory=list)  # attributes of classes outside the scope
    min_count: int | None = None  # groups smaller than this are never shown


def grant_reveals(dataset: Dataset, data_classes: list[str] | set[str]) -> Reveal:
    version = dataset.latest_version
    out = Reveal()
    if version is None:
        return out
    rules = [rule for pv, policy in active_policies() if pv.mode == "enforce" for rule in policy.minimize]
    out.min_count = next((r.params.get("min_count") for r in rules if r.transform == "min_results"), None)
    classes = version.attribute_classes or {}
    attributes: dict[str, Any] = {**(classes.get("edges") or {}), **(classes.get("nodes") or {})}
    for attribute, data_class in sorted(attributes.items()):
        if data_class not in data_classes:
            out.withheld.append(attribute)
            continue
        rule = next((r for r in rules if r.transform != "min_results" and r.covers(attribute, data_class)), None)
        if rule is None:
            out.shown.append(attribute)
        else:
            out.changed.append((attribute, WORDS.get(rule.transform, rule.transform)))
    return out
