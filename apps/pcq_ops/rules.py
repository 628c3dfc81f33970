"""Anomaly severity, paging and suppression rules (pure; the services and the drill share
these, so the drill measures the rules production applies).

A suppression rule is an Alertmanager-style silence: a set of matchers, all of which must
hold. ``max_delta`` is a tolerance band (the anomaly's delta is at most this); every other
matcher is an equality on the anomaly's field of that name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

KINDS = ("variance", "mismatch", "error", "attestation_failed", "golden_drift", "flaky")
SEVERITIES = ("info", "warning", "critical")
ROOT_KINDS = ("policy", "dataset", "dependency", "code", "unknown")
EQUALITY_MATCHERS = ("kind", "dataset", "transform", "metric", "fixture", "root_kind", "root")
MATCHERS = (*EQUALITY_MATCHERS, "max_delta")
# Severity by kind: an attestation failure or an error means evidence could not be produced.
KIND_SEVERITY = {
    "attestation_failed": "critical",
    "error": "critical",
    "mismatch": "critical",
    "variance": "warning",
    "golden_drift": "warning",
    "flaky": "info",
}


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def severity_for(kind: str, delta: float | None = None, tolerance: float | None = None) -> str:
    """A variance far outside its band (over 1000× the tolerance) is critical."""
    base = KIND_SEVERITY[kind]
    if kind == "variance" and delta is not None and tolerance is not None and delta > max(tolerance, 1e-12) * 1000:
        return "critical"
    return base


class RuleInvalid(ValueError):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


def clean_matchers(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or not raw:
        raise RuleInvalid("matchers must be a non-empty object", {"matchers": "required"})
    unknown = sorted(set(raw) - set(MATCHERS))
    if unknown:
        raise RuleInvalid(f"unknown matcher(s): {', '.join(unknown)}", {"unknown": unknown, "allowed": list(MATCHERS)})
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "max_delta":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise RuleInvalid("max_delta must be a non-negative number", {"max_delta": value})
            out[key] = float(value)
        else:
            if not isinstance(value, str) or not value.strip():
                raise RuleInvalid(f"matcher {key} must be a non-empty string", {key: value})
            out[key] = value.strip()
    if "kind" in out and out["kind"] not in KINDS:
        raise RuleInvalid(f"unknown kind {out['kind']!r}", {"allowed": list(KINDS)})
    if "root_kind" in out and out["root_kind"] not in ROOT_KINDS:
        raise RuleInvalid(f"unknown root kind {out['root_kind']!r}", {"allowed": list(ROOT_KINDS)})
    return out


def matches(matchers: Mapping[str, Any], anomaly: Mapping[str, Any]) -> bool:
    for key, value in matchers.items():
        if key == "max_delta":
            delta = anomaly.get("delta")
            if delta is None or delta > value:
                return False
        elif anomaly.get(key) != value:
            return False
    return True


def breadth(matchers: Mapping[str, Any], recent: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(matched, total) over recent anomalies: what share this rule would have muted."""
    rows = list(recent)
    return sum(1 for a in rows if matches(matchers, a)), len(rows)


def breadth_verdict(
    matchers: Mapping[str, Any], recent: Iterable[Mapping[str, Any]], *, min_matchers: int, max_share: float
) -> dict[str, Any]:
    """The breadth guard: too few matchers is refused; a rule that would mute more than
    ``max_share`` of recent anomalies needs a second approver."""
    matched, total = breadth(matchers, recent)
    share = matched / total if total else 0.0
    return {
        "matched": matched,
        "total": total,
        "share": round(share, 4),
        "refused": len(matchers) < min_matchers,
        "extra_approver": share > max_share,
    }


def group_key(anomaly: Mapping[str, Any]) -> str:
    """Anomalies with the same root page once: the root, else kind + dataset + transform."""
    if anomaly.get("root"):
        return f"root:{anomaly['root']}"
    return f"{anomaly.get('kind')}:{anomaly.get('dataset') or '-'}:{anomaly.get('transform') or '-'}"


def pages_for(
    stream: Iterable[Mapping[str, Any]],
    rules: list[Mapping[str, Any]],
    *,
    min_severity: str,
    group_window_seconds: float,
) -> list[dict[str, Any]]:
    """Decide which anomalies page (time-ordered stream, each with ``at`` in seconds and a
    ``rules`` list of active rules with ``matchers``, ``starts`` and ``ends``). One page per
    group per window; suppressed anomalies never page but are still counted."""
    open_groups: dict[str, float] = {}
    out = []
    for a in stream:
        if severity_rank(a["severity"]) < severity_rank(min_severity):
            continue
        muted = any(r["starts"] <= a["at"] < r["ends"] and matches(r["matchers"], a) for r in rules)
        if muted:
            continue
        key = group_key(a)
        last = open_groups.get(key)
        if last is not None and a["at"] - last < group_window_seconds:
            continue
        open_groups[key] = a["at"]
        out.append({"group": key, "at": a["at"], "anomaly": a})
    return out
