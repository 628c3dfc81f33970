"""A subject's exposure to a dataset over the 24-hour window (reads only).

Exposure is kept per run as the nodes and edges its answer revealed (``QueryRun.exposure``),
and unioned here per subject and *dataset* — whatever view or version each query went
through — so that degree and component limits hold cumulatively (docs/lac.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from .models import Decision, QueryRun

EXPOSURE_WINDOW = timedelta(hours=24)
COUNTED = (QueryRun.Status.ALLOWED, QueryRun.Status.ALLOWED_MONITOR)


def prior_exposure(user: AbstractBaseUser, dataset_id: int, now: datetime) -> tuple[set[str], set[tuple[str, str]]]:
    """Nodes and edges revealed to ``user`` from the dataset in the window before ``now``."""
    rows = QueryRun.objects.filter(
        user=user,
        dataset_version__dataset_id=dataset_id,
        created_at__gte=now - EXPOSURE_WINDOW,
        created_at__lte=now,
        status__in=COUNTED,
    ).values_list("exposure", "returned_nodes")
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for exposure, returned in rows:
        exposure = exposure or {}
        nodes.update(exposure.get("nodes") or returned)  # runs stored before exposure was kept
        edges.update((u, v) for u, v in exposure.get("edges") or ())
    return nodes, edges


def recent_result_denials(user: AbstractBaseUser, dataset_id: int, now: datetime) -> int:
    """Runs of ``user`` on the dataset denied by an enforce policy on their result (each one
    answered "more than the limit"), in the window before ``now``."""
    return (
        Decision.objects.filter(
            query_run__user=user,
            query_run__dataset_version__dataset_id=dataset_id,
            query_run__created_at__gte=now - EXPOSURE_WINDOW,
            query_run__created_at__lte=now,
            stage="result",
            outcome="deny",
            mode="enforce",
        )
        .values("query_run")
        .distinct()
        .count()
    )


def as_json(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, Any]:
    return {"nodes": list(nodes), "edges": [[u, v] for u, v in edges]}
