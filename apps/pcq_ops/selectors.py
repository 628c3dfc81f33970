"""PCQ operations reads (tenant scoped): the explorer's filtered and grouped anomalies, the
weekly fixture report, and CSV renderings of both."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Anomaly, FixtureRun, Quarantine, ReplayFixture, ReplaySampling

FILTERS = ("kind", "severity", "root_kind", "dataset", "transform", "metric")
GROUPS = ("root", "root_kind", "kind", "dataset", "severity")


def anomalies(params: Mapping[str, str]) -> QuerySet[Anomaly]:
    qs = Anomaly.objects.select_related("fixture", "suppressed_by", "page")
    for key in FILTERS:
        if params.get(key):
            qs = qs.filter(**{key: params[key]})
    state = params.get("state")
    if state == "suppressed":
        qs = qs.filter(suppressed_by__isnull=False)
    elif state == "paged":
        qs = qs.filter(page__isnull=False)
    if params.get("q"):
        qs = qs.filter(Q(message__icontains=params["q"]) | Q(root__icontains=params["q"]))
    return qs


def grouped(qs: QuerySet[Anomaly], by: str) -> list[dict[str, Any]]:
    if by not in GROUPS:
        return []
    return list(
        qs.order_by()
        .values(by)
        .annotate(count=Count("id"), suppressed=Count("id", filter=Q(suppressed_by__isnull=False)))
        .order_by("-count", by)
    )


CSV_COLUMNS = ("id", "created_at", "kind", "severity", "dataset", "transform", "metric", "delta",
               "root_kind", "root", "changed", "suppressed_by", "page", "message")  # fmt: skip


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # CSV injection: a cell a spreadsheet would run as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def anomalies_csv(qs: QuerySet[Anomaly]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for a in qs:
        row = [a.pk, a.created_at.isoformat(), a.kind, a.severity, a.dataset, a.transform, a.metric, a.delta,
               a.root_kind, a.root, " ".join(a.changed), a.suppressed_by_id, a.page_id, a.message]  # fmt: skip
        w.writerow([_cell(v) for v in row])
    return out.getvalue()


def fixture_report(now: datetime | None = None, days: int = 7) -> dict[str, Any]:
    """The weekly report: the quarantine queue (oldest first), the flaky rate over the week
    and how far from the packet's target (flaky rate 0%, queue 0)."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    runs = FixtureRun.objects.filter(created_at__gte=since, created_at__lte=now)
    total = runs.count()
    flaky = runs.filter(outcome=FixtureRun.Outcome.FLAKY).count()
    queue = list(Quarantine.objects.filter(released_at__isnull=True).select_related("fixture", "owner"))
    return {
        "since": since,
        "until": now,
        "fixtures": ReplayFixture.objects.count(),
        "runs": total,
        "flaky_runs": flaky,
        "flaky_rate": flaky / total if total else 0.0,
        "drift_runs": runs.filter(outcome=FixtureRun.Outcome.DRIFT).count(),
        "queue": [
            {
                "fixture": q.fixture.name,
                "owner": q.owner.get_username() if q.owner else "",
                "owner_email": q.owner.email if q.owner else "",
                "reason": q.reason,
                "step": q.varying_step,
                "rate": q.flaky_rate,
                "opened_at": q.opened_at,
                "age_days": (now - q.opened_at).days,
                "deadline_at": q.deadline_at,
                "escalated": q.escalated_at is not None,
                "clean_runs": q.clean_runs,
            }
            for q in queue
        ],
        "target": {"flaky_rate": 0.0, "queue": 0},
    }


def fixture_report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["fixture", "owner", "step", "flaky_rate", "opened_at", "age_days", "deadline_at", "escalated",
                "clean_runs", "reason"])  # fmt: skip
    for q in report["queue"]:
        w.writerow([_cell(v) for v in (q["fixture"], q["owner"], q["step"], f"{q['rate']:.4f}",
                    q["opened_at"].isoformat(), q["age_days"], q["deadline_at"].isoformat(), q["escalated"],
                    q["clean_runs"], q["reason"])])  # fmt: skip
    return out.getvalue()


def sampling_rows() -> dict[str, Any]:
    """The tenant's default replay rate and every dataset's own and effective rate."""
    from apps.graphs.models import Dataset

    rates = {r.dataset_id: r for r in ReplaySampling.objects.all()}
    default = rates.get(None)
    tenant_rate = default.rate if default else 1.0
    return {
        "default": default,
        "tenant_rate": tenant_rate,
        "datasets": [
            {
                "dataset": d,
                "own": rates.get(d.pk),
                "effective": rates[d.pk].rate if d.pk in rates else tenant_rate,
            }
            for d in Dataset.objects.order_by("slug")
        ],
    }
