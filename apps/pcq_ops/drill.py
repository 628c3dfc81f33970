"""The suppression drill (pure): a simulated week of anomalies — benign repeats of known
roots plus injected true positives — paged with and without the rules, through the same
``rules.pages_for`` production uses."""

from __future__ import annotations

import random
from typing import Any

from . import rules

DAY = 86400.0
# Known benign roots (each with the rule an on-call would write for it) and their rates per day.
BENIGN = (
    ({"kind": "variance", "dataset": "calls-demo", "transform": "metric", "metric": "pagerank", "delta": 2e-6,
      "root_kind": "dependency", "root": "scipy 1.13 → 1.14"},
     {"dataset": "calls-demo", "root_kind": "dependency", "max_delta": 1e-5}, 30),
    ({"kind": "golden_drift", "dataset": "fixture:grid-400", "transform": "metric", "metric": "pagerank",
      "fixture": "grid-400", "root_kind": "code", "root": "verifier measurement changed"},
     {"fixture": "grid-400", "kind": "golden_drift"}, 6),
    ({"kind": "variance", "dataset": "towers", "transform": "metric", "metric": "betweenness", "delta": 5e-10,
      "root_kind": "dataset", "root": "dataset towers v3 → v4"},
     {"dataset": "towers", "metric": "betweenness", "max_delta": 1e-9}, 12),
    # Benign but not understood yet: no rule covers it, so it keeps paging.
    ({"kind": "variance", "dataset": "sessions", "transform": "metric", "metric": "degree", "delta": 1.0,
      "root_kind": "unknown", "root": ""}, None, 4),
)  # fmt: skip
TRUE_POSITIVES = (
    {"kind": "variance", "dataset": "calls-demo", "transform": "metric", "metric": "pagerank", "delta": 0.02,
     "root_kind": "dependency", "root": "numpy 2.1 → 2.2"},
    {"kind": "mismatch", "dataset": "calls-demo", "transform": "select", "metric": "degree",
     "root_kind": "policy", "root": "policy investigations v7 (minimization for `age`)"},
    {"kind": "attestation_failed", "dataset": "towers", "root_kind": "code", "root": "verifier not affirming"},
    {"kind": "variance", "dataset": "towers", "transform": "metric", "metric": "betweenness", "delta": 0.3,
     "root_kind": "dataset", "root": "dataset towers v4 → v5"},
)  # fmt: skip


def stream(seed: int = 16, days: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation
    out = []
    for base, _rule, per_day in BENIGN:
        for _ in range(per_day * days):
            out.append({**base, "at": rng.uniform(0, days * DAY), "truth": False})
    for tp in TRUE_POSITIVES:
        out.append({**tp, "at": rng.uniform(0, days * DAY), "truth": True})
    for a in out:
        a["severity"] = rules.severity_for(a["kind"], a.get("delta"), 1e-6 if a.get("delta") else None)
        a.setdefault("fixture", "")
    return sorted(out, key=lambda a: a["at"])


def run(seed: int = 16, days: int = 7, group_minutes: int = 60, min_severity: str = "warning") -> dict[str, Any]:
    events = stream(seed, days)
    active = [{"matchers": rules.clean_matchers(r), "starts": 0.0, "ends": days * DAY} for _, r, _ in BENIGN if r]

    kw = {"min_severity": min_severity, "group_window_seconds": group_minutes * 60}
    without = rules.pages_for(events, [], **kw)
    with_rules = rules.pages_for(events, active, **kw)
    paged_truths = {id(p["anomaly"]) for p in with_rules if p["anomaly"]["truth"]}
    truths = [
        a for a in events if a["truth"] and rules.severity_rank(a["severity"]) >= rules.severity_rank(min_severity)
    ]
    benign_without = sum(1 for p in without if not p["anomaly"]["truth"])
    benign_with = sum(1 for p in with_rules if not p["anomaly"]["truth"])
    return {
        "days": days,
        "anomalies": len(events),
        "suppressed": sum(1 for a in events if any(rules.matches(r["matchers"], a) for r in active)),
        "pages_without_rules": len(without),
        "pages_with_rules": len(with_rules),
        "benign_pages_without_rules": benign_without,
        "benign_pages_with_rules": benign_with,
        "benign_pages_avoided": round(1 - benign_with / benign_without, 4) if benign_without else 0.0,
        "true_positives": len(truths),
        "true_positives_missed": sum(1 for a in truths if id(a) not in paged_truths),
    }
