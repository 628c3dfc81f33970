"""Reads for the lifecycle pages and API: environments per policy, promotions, drift, and
the metrics recorded as ``StudioEvent``s (time-to-fix median, revert rate, low-risk drift
cleared automatically)."""

from __future__ import annotations

from statistics import median
from typing import Any

from django.db.models import QuerySet

from .environments import environment_rows, prod_name
from .models import Drift, Policy, PromotionRequest, StudioEvent


def promotions() -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related("policy", "version", "base_version", "proposer", "approver")


def drifts() -> QuerySet[Drift]:
    return Drift.objects.select_related("policy", "promotion")


def board() -> list[dict[str, Any]]:
    return [{"policy": p, "envs": environment_rows(p)} for p in Policy.objects.order_by("name")]


def metrics() -> dict[str, Any]:
    ttf = list(StudioEvent.objects.filter(name="time_to_fix").values_list("value", flat=True))
    prod_applied = StudioEvent.objects.filter(name="promotion_applied", data__env=prod_name()).count()
    reverts = StudioEvent.objects.filter(name="revert")
    per_author: dict[str, int] = {}
    for e in reverts.select_related("actor"):
        key = e.actor.get_username() if e.actor else "(unknown)"
        per_author[key] = per_author.get(key, 0) + 1
    low = Drift.objects.filter(risk="low")
    auto = low.filter(resolution="auto_merged").count()
    return {
        "time_to_fix": {
            "median_seconds": round(median(ttf), 1) if ttf else None,
            "fixes": len(ttf),
            "failures": StudioEvent.objects.filter(name="gate_failed").count(),
        },
        "revert_rate": {
            "reverts": reverts.count(),
            "prod_promotions": prod_applied,
            "rate": round(reverts.count() / prod_applied, 3) if prod_applied else None,
            "per_author": per_author,
        },
        "low_risk_drift": {
            "detected": low.count(),
            "auto_merged": auto,
            "share": round(auto / low.count(), 3) if low.count() else None,
        },
    }


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
