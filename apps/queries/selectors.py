"""Reads for query runs and their decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from apps.policy_studio.lac.engine import Resource
from apps.policy_studio.simulator import PastDecision

from . import hooks
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


def past_decisions(
    *, dataset: str | None = None, environment: str | None = None, limit: int = 5000
) -> list[PastDecision]:
    """The decision history the policy simulator replays (registered in ``QueriesConfig.ready``)."""
    runs = query_runs()
    if dataset:
        runs = runs.filter(dataset_version__dataset__slug=dataset)
    if environment:
        runs = runs.filter(environment=environment)
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


def policy_decision_rows(*, policy_id: int, since: datetime, limit: int) -> list[tuple[str, Any, Any, str | None]]:
    """(outcome, reason codes, violations, purpose) of one policy's decisions since ``since``,
    newest first: the editor's history hints (registered in ``QueriesConfig.ready``)."""
    return list(
        Decision.objects.filter(policy_version__policy_id=policy_id, created_at__gte=since)
        .annotate(purpose=KeyTextTransform("purpose", "query_run__spec"))
        .order_by("-created_at")
        .values_list("outcome", "reason_codes", "violations", "purpose")[:limit]
    )


@dataclass(frozen=True)
class JitOffer:
    """What a denied run offers its subject: ``request`` access (no grant covers it yet), or
    ``covered`` by a live grant, so it can be run again under that grant instead."""

    kind: str
    run_id: int
    rule: str
    grant_id: int | None = None

    @property
    def request_url(self) -> str:
        return f"/jit/?run={self.run_id}"


def covering_grant(run: QueryRun, user: Any, now: datetime | None = None) -> int | None:
    """The id of a live grant of ``user`` that covers the scope the run was denied for."""
    facts = run.facts.get("resource") or {}
    if not run.jit_rule or not facts.get("dataset"):
        return None
    resource = Resource(facts["dataset"], None, frozenset(facts.get("data_classes") or ()), "", "", 0)
    purpose = (run.spec or {}).get("purpose", "")
    now = now or timezone.now()
    for provider in hooks.grant_providers():
        for grant in provider(user, now):
            if grant.covers(run.jit_rule, resource, purpose):
                return grant.id
    return None


def jit_offer(run: QueryRun, user: Any, now: datetime | None = None) -> JitOffer | None:
    """The one rule for "offer a JIT request" (the run page, the API's 403 body): only to
    the run's own subject, only when a JIT rule could grant it, never while a grant covers it."""
    if "JIT_REQUIRED" not in (run.reason_codes or []) or run.user_id != getattr(user, "pk", None):
        return None
    grant_id = covering_grant(run, user, now)
    if grant_id is not None:
        return JitOffer("covered", run.pk, run.jit_rule, grant_id)
    return JitOffer("request", run.pk, run.jit_rule)
