"""Minimization transforms, applied to a result after LAC allowed it (pure; no Django).

One transform per attribute and scope: the first rule (in policy order) that names the
attribute, or its data class, wins — node attributes with the node classes, edge attributes
with the edge classes, so a node attribute and an edge attribute never share a rule by name
collision.

Counting rules count *connected* rows, so padding a query with decoys does not satisfy them
(docs/lac.md, "What min_count and min_results count"): a result's rows fall into groups, the
connected components of the traversal graph T, and

* ``min_results`` (min_count n): rows of a group with fewer than n returned rows are not
  returned (nor edges touching them). The answer does not say whether or how many rows were
  withheld: a count, or even a flag, would be an oracle bit about hidden records.
* ``bucket`` with ``min_count`` n: a bucket value held by fewer than n rows *of the same group*
  is shown as ``suppressed``.
* A filter on an attribute released with ``min_count`` (bucket or truncate_date): every row
  that passed the filter is known to hold one of the filtered values, so "suppressed" would be
  inverted (the other filtered values are shown, the row holds the remaining one). Rows that
  passed such a filter and whose released value has fewer than n rows in their group are
  therefore withheld entirely (nodes with the edges touching them), never shown as
  ``suppressed``, and, as for ``min_results``, nothing says whether or how many were withheld.

Filters may be no finer than the release of the attribute they test (``filter_violations``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from apps.core.crypto.keyed import keyed_hash

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
    result: dict[str, Any],
    rules: tuple[MinimizeRule, ...],
    attribute_classes: dict[str, str],
    key: bytes,
    *,
    edge_classes: dict[str, str] | None = None,
    node_filtered: Iterable[str] = (),
    edge_filtered: Iterable[str] = (),
    source_attrs: tuple[Callable[[Any], dict[str, Any]], Callable[[Any, Any], dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], list[AppliedStep]]:
    """Minimize ``result`` (from ``engine.render``). ``attribute_classes`` are the node classes;
    ``edge_classes`` the edge classes (absent: one map for both, as older manifests recorded).
    ``node_filtered`` / ``edge_filtered``: the attributes the executed node and edge filters
    tested (rows passing a filter on a ``min_count`` release are withheld rather than shown
    ``suppressed``, see the module docstring); ``source_attrs`` looks up a node's / an edge's
    stored attributes, so the rule holds when the filtered attribute is not a returned field."""
    result = dict(result)
    groups: dict[str, Any] = result.pop("groups", None) or {}
    edge_classes = attribute_classes if edge_classes is None else edge_classes
    steps: list[AppliedStep] = []
    node_filtered, edge_filtered = set(node_filtered) - {"type"}, set(edge_filtered) - {"type"}
    if node_filtered or edge_filtered:
        result = _withhold_filtered_small_values(
            result, groups, rules, attribute_classes, edge_classes, node_filtered, edge_filtered, source_attrs
        )
    result_wide = next((r for r in rules if r.transform == "min_results"), None)
    if result_wide is not None:
        result = _withhold_small_groups(result, groups, result_wide.params["min_count"])
        steps.append(AppliedStep(result_wide.id, "min_results", "*", result_wide.params, 0))
    group_of = {n["id"]: groups.get(n["id"], 0) for n in result["nodes"]}
    scoped = [
        ("nodes", result["nodes"], attribute_classes, lambda row: group_of.get(row["id"], 0)),
        ("edges", result["edges"], edge_classes, lambda row: group_of.get(row["source"], 0)),
    ]
    planned: list[tuple[str, MinimizeRule, list[dict[str, Any]], Any]] = []
    for _, rows, classes, group in scoped:
        present = {k for row in rows for k in row if k in classes}
        chosen, _ = plan_steps(rules, classes, present)
        for attribute, rule in chosen.items():
            planned.append((attribute, rule, [row for row in rows if attribute in row], group))
    merged: dict[tuple[str, str], AppliedStep] = {}
    for attribute, rule, holders, group in sorted(planned, key=lambda p: (p[0], p[1].id)):
        suppressed = _transform(rule, attribute, holders, group, key)
        k = (attribute, rule.id)
        before = merged.get(k)
        merged[k] = AppliedStep(
            rule.id, rule.transform, attribute, rule.params, suppressed + (before.suppressed if before else 0)
        )
    steps += [merged[k] for k in sorted(merged)]
    return result, steps


def _released(rule: MinimizeRule, value: Any) -> Any:
    if rule.transform == "bucket":
        return bucket(value, rule.params.get("width"), rule.params.get("edges"))
    return truncate_date(value, rule.params["unit"])


def _withhold_filtered_small_values(
    result: dict[str, Any],
    groups: dict[str, Any],
    rules: tuple[MinimizeRule, ...],
    node_classes: dict[str, str],
    edge_classes: dict[str, str],
    node_filtered: set[str],
    edge_filtered: set[str],
    source_attrs: Any,
) -> dict[str, Any]:
    """Withhold the rows that passed a filter on a ``min_count`` release and whose released
    value is held by fewer than min_count rows of their group. Withholding nodes can thin
    another filtered value's count, so this runs to a fixed point."""

    node_of, edge_of = source_attrs or ((lambda n: {}), (lambda s, t: {}))

    def counted(classes: dict[str, str], filtered: set[str]) -> list[Any]:
        present = {k for k in filtered if k in classes}
        chosen, _ = plan_steps(rules, classes, present)
        return [
            (a, r) for a, r in sorted(chosen.items())
            if r.transform in ("bucket", "truncate_date") and "min_count" in r.params
        ]  # fmt: skip

    nodes, edges = list(result["nodes"]), list(result["edges"])
    node_rules = counted(node_classes, node_filtered)
    edge_rules = counted(edge_classes, edge_filtered)
    node_raw = {n["id"]: {**node_of(n["id"]), **n} for n in nodes}
    edge_raw = {(e["source"], e["target"]): {**edge_of(e["source"], e["target"]), **e} for e in edges}
    if not node_rules and not edge_rules:
        return result
    while True:
        drop_nodes: set[Any] = set()
        for attribute, rule in node_rules:
            values = {
                n["id"]: _released(rule, node_raw[n["id"]][attribute]) for n in nodes if attribute in node_raw[n["id"]]
            }
            counts = Counter((groups.get(i, 0), v) for i, v in values.items())
            drop_nodes |= {i for i, v in values.items() if counts[(groups.get(i, 0), v)] < rule.params["min_count"]}
        nodes = [n for n in nodes if n["id"] not in drop_nodes]
        kept = {n["id"] for n in nodes}
        before = len(edges)
        edges = [e for e in edges if e["source"] in kept and e["target"] in kept]
        drop_edges: set[int] = set()
        for attribute, rule in edge_rules:
            raw = [edge_raw[(e["source"], e["target"])] for e in edges]
            values = {k: _released(rule, r[attribute]) for k, r in enumerate(raw) if attribute in r}
            counts = Counter((groups.get(edges[k]["source"], 0), v) for k, v in values.items())
            drop_edges |= {
                k
                for k, v in values.items()
                if counts[(groups.get(edges[k]["source"], 0), v)] < rule.params["min_count"]
            }
        edges = [e for k, e in enumerate(edges) if k not in drop_edges]
        if not drop_nodes and len(edges) == before:
            break
    return {**result, "nodes": nodes, "edges": edges}


def _withhold_small_groups(result: dict[str, Any], groups: dict[str, Any], min_count: int) -> dict[str, Any]:
    sizes = Counter(groups.get(n["id"], 0) for n in result["nodes"])
    keep = {n["id"] for n in result["nodes"] if sizes[groups.get(n["id"], 0)] >= min_count}
    return {
        **result,
        "nodes": [n for n in result["nodes"] if n["id"] in keep],
        "edges": [e for e in result["edges"] if e["source"] in keep and e["target"] in keep],
    }


def _transform(rule: MinimizeRule, attribute: str, holders: list[dict[str, Any]], group: Any, key: bytes) -> int:
    p = rule.params
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
            counts = Counter((group(row), row[attribute]) for row in holders)
            for row in holders:
                if counts[(group(row), row[attribute])] < p["min_count"] and row[attribute] != SUPPRESSED:
                    row[attribute] = SUPPRESSED
                    suppressed += 1
    return suppressed


_DATE_PERIOD = {4: "year", 7: "month", 10: "day"}
_UNIT_SIZE = {"year": 4, "month": 7, "day": 10}


def release_violation(value: Any, rule: MinimizeRule | None) -> str | None:
    """Why a filter value is finer than the attribute's release (None: it is not)."""
    if rule is None:
        return None
    t, p = rule.transform, rule.params
    if t in ("mask", "hash", "redact"):
        return f"the attribute is released only as {t}ed values, so it cannot be filtered on"
    values = value if isinstance(value, list) else [value]
    if t == "bucket":
        allowed = _bucket_labels(p)
        for v in values:
            if not isinstance(v, str) or not allowed(v):
                example = bucket(p["edges"][0], None, p["edges"]) if p.get("edges") else bucket(0, p["width"])
                return f"filter on whole buckets only, written as the result shows them (e.g. {example!r})"
    if t == "truncate_date":
        size = _UNIT_SIZE[p["unit"]]
        for v in values:
            if not isinstance(v, str) or len(v) not in _DATE_PERIOD or len(v) > size or not _is_period(v):
                return f"filter on whole periods only (a {_DATE_PERIOD[size]} or coarser, e.g. {'2026-06-01'[:size]!r})"
    return None


def _is_period(v: str) -> bool:
    parts = v.split("-")
    return all(part.isdigit() for part in parts) and [len(x) for x in parts] in ([4], [4, 2], [4, 2, 2])


def _bucket_labels(p: dict[str, Any]) -> Any:
    if p.get("edges"):
        edges = p["edges"]
        labels = {f"< {edges[0]:g}", f">= {edges[-1]:g}"} | {f"[{lo:g}, {hi:g})" for lo, hi in pairwise(edges)}
        return labels.__contains__
    width = p["width"]

    def ok(label: str) -> bool:
        parts = label[1:-1].split(", ") if label.startswith("[") and label.endswith(")") else []
        if len(parts) != 2:
            return False
        try:
            lo = float(parts[0])
        except ValueError:
            return False
        if not math.isfinite(lo):
            return False
        return bucket(lo, width) == label

    return ok


def filter_violations(
    spec: dict[str, Any],
    rules: tuple[MinimizeRule, ...],
    node_classes: dict[str, str],
    edge_classes: dict[str, str],
) -> list[dict[str, Any]]:
    """Filters finer than the release of the attribute they test (an oracle on the hidden
    value): equality on a bucketed number or a truncated date, any filter on a masked, hashed
    or redacted attribute."""
    out = []
    for name, classes in (("node_filter", node_classes), ("edge_filter", edge_classes)):
        keys = [k for k in spec.get(name, {}) if k != "type" and k in classes]
        chosen, _ = plan_steps(rules, classes, set(keys))
        for k in sorted(keys):
            why = release_violation(spec[name][k], chosen.get(k))
            if why:
                rule = chosen[k]
                out.append(
                    {"code": "FILTER_FINER_THAN_RELEASE", "filter": name, "key": k, "rule": rule.id, "message": why}
                )
    return out
