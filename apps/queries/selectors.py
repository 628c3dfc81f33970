"""Reads for query runs and their decisions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

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
