"""Fairness under contention, without Django: the Gini coefficient of per-tenant service.

PRODUCT.md defines fairness as each tenant's share of served requests relative to its
demand over a 60 s window, and the Gini coefficient across active tenants of that ratio.
0 = every tenant got the same fraction of what it asked for; towards 1 = one tenant got
everything. A tenant with no demand in the window is not active and does not count.
"""

from __future__ import annotations

from collections.abc import Mapping


def gini(values: list[float]) -> float:
    """Gini coefficient of non-negative values (mean absolute difference / (2 * mean)).
    0.0 for fewer than two values or when all are zero."""
    xs = sorted(v for v in values if v >= 0)
    n = len(xs)
    total = sum(xs)
    if n < 2 or total == 0:
        return 0.0
    # Sorted form of sum_i sum_j |x_i - x_j| / (2 n^2 mean): O(n log n) instead of O(n^2).
    weighted = sum((2 * (i + 1) - n - 1) * x for i, x in enumerate(xs))
    return max(0.0, weighted / (n * total))  # float rounding can dip below 0 for equal values


def service_ratios(demand: Mapping[str, float], served: Mapping[str, float]) -> dict[str, float]:
    """Per active tenant (demand > 0): served / demand, capped at 1."""
    return {t: min(1.0, served.get(t, 0.0) / d) for t, d in demand.items() if d > 0}


def window_gini(
    before: tuple[Mapping[str, float], Mapping[str, float]], after: tuple[Mapping[str, float], Mapping[str, float]]
) -> tuple[float, int]:
    """Gini of the service ratios between two snapshots of monotonic (demand, served)
    counters; returns (gini, active tenants). Counter resets count from zero."""

    def delta(new: Mapping[str, float], old: Mapping[str, float]) -> dict[str, float]:
        return {k: (v - old.get(k, 0.0)) if v >= old.get(k, 0.0) else v for k, v in new.items()}

    ratios = service_ratios(delta(after[0], before[0]), delta(after[1], before[1]))
    return gini(list(ratios.values())), len(ratios)


def maxmin_shares(demand: Mapping[str, float], capacity: float) -> dict[str, float]:
    """Max-min fair shares of ``capacity`` (water-filling): a tenant asking for less than an
    equal split gets what it asked for, the rest is split equally among the others."""
    shares: dict[str, float] = {}
    left, order = capacity, sorted((d, t) for t, d in demand.items() if d > 0)
    for i, (d, t) in enumerate(order):
        shares[t] = min(d, left / (len(order) - i))
        left -= shares[t]
    return shares


def fair_gini(demand: Mapping[str, float], served: Mapping[str, float]) -> tuple[float, int]:
    """Scheduler fairness for one window: each active tenant's served work over its max-min
    fair share of what was served in total (capped at 1), and the Gini of those ratios.
    0 = every tenant got its fair share; a starved tenant next to a served one pushes it up.
    Returns (gini, active tenants)."""
    shares = maxmin_shares(demand, sum(served.get(t, 0.0) for t in demand))
    ratios = [min(1.0, served.get(t, 0.0) / s) if s > 0 else 1.0 for t, s in shares.items()]
    return gini(ratios), len(ratios)
