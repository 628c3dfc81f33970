"""Reads for query runs and their decisions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.policy_studio.simulator import PastDecision

from .models import Decision, QueryRun


def query_runs() -> QuerySet[QueryRun]:
    return QueryRun.objects.select_related("user", "dataset_version__dataset", "view").order_by("-created_at", "-id")


RUN_OVERSEERS = frozenset({"admin", "auditor", "policy_author"})


def query_runs_visible_to(user: Any, roles: frozenset[str]) -> QuerySet[QueryRun]:
    """Admins, auditors and policy authors see every run of the tenant; others only their own."""
    runs = query_runs()
    return runs if roles & RUN_OVERSEERS else runs.filter(user=user)


def decisions_for(run: QueryRun) -> QuerySet[Decision]:
    return Decision.objects.filter(query_run=run).select_related("policy_version__policy").order_by("id")


def past_decisions(*, dataset: str | None = None, limit: int = 5000) -> list[PastDecision]:
    """The decision history the policy simulator replays (registered in ``QueriesConfig.ready``)."""
    runs = query_runs()
    if dataset:
        runs = runs.filter(dataset_version__dataset__slug=dataset)
    return [
        PastDecision(
            run_id=run.pk,
            created_at=run.created_at,
            username=run.user.get_username(),
            dataset=run.dataset_version.dataset.slug,
            facts=run.facts,
            attribute_classes={
                **run.dataset_version.attribute_classes["nodes"],
                **run.dataset_version.attribute_classes["edges"],
            },
        )
        for run in runs.order_by("-created_at")[:limit]
    ]
