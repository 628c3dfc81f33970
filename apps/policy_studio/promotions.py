"""Promotion requests (docs/studio.md): propose → gates (a Celery task with a job row) →
ready → applied (stage: any author; prod: a second author's approval, never the proposer's)
→ one-click rollback. Low-risk drift auto-merges through the same path after a soak time.
Every write is one transaction with its audit event; lifecycle metrics are ``StudioEvent``s."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.services import audit_record

from . import environments as envs
from .gates import GATES, RUNNERS, GateInput
from .insights import explain
from .lac.diff import diff_policies
from .models import Deployment, Drift, GateJob, Policy, PolicyVersion, PromotionRequest, StudioEvent

logger = logging.getLogger(__name__)
OPEN = (PromotionRequest.Status.GATES, PromotionRequest.Status.READY, PromotionRequest.Status.FAILED)
REVERT_WINDOW = timedelta(days=7)


def _get(pk: int, *, lock: bool = False) -> PromotionRequest:
    qs = PromotionRequest.objects.select_related("policy", "version", "base_version", "proposer")
    promotion = (qs.select_for_update(of=("self",)) if lock else qs).filter(pk=pk).first()
    if promotion is None:
        raise NotFound(f"No promotion request {pk}.")
    return promotion


def event(
    name: str, *, policy: Policy | None = None, actor: Any = None, value: float | None = None, **data: Any
) -> None:
    StudioEvent.objects.create(name=name, policy=policy, actor=actor, value=value, data=data)


def promotion_create(
    *,
    actor: AbstractBaseUser,
    slug: str,
    number: int,
    target_env: str | None = None,
    note: str = "",
    kind: str = PromotionRequest.Kind.MANUAL,
) -> PromotionRequest:
    """Propose ``slug`` v``number`` for ``target_env`` (default: the environment after the one
    that registers it). A manual promotion starts from the environment just before the
    target, which must register the version; an auto-merge adopts what the target runs."""
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        version = policy.versions.filter(number=number).first() if policy else None
        if version is None:
            raise NotFound(f"No version {number} of policy {slug!r}.")
        if kind == PromotionRequest.Kind.AUTO_MERGE:
            source = target = envs.check(target_env)
        else:
            target, source = _route(policy, version, target_env)
        base = envs.running_version(policy, target) if kind == PromotionRequest.Kind.MANUAL else None
        if kind == PromotionRequest.Kind.AUTO_MERGE:
            entry = envs.registry_entry(policy, target)
            base = entry.version if entry else None
        PromotionRequest.objects.filter(policy=policy, target_env=target, status__in=OPEN).update(
            status=PromotionRequest.Status.SUPERSEDED, decided_at=timezone.now()
        )
        promotion = PromotionRequest.objects.create(
            policy=policy,
            version=version,
            base_version=base,
            source_env=source,
            target_env=target,
            kind=kind,
            proposer=actor,
            note=note[:300],
        )
        job = GateJob.objects.create(promotion=promotion)
        audit_record(
            "policy.promotion_requested",
            actor=actor,
            target=promotion,
            reason=note,
            payload={"policy": slug, "version": number, "from": source, "to": target, "kind": kind},
        )
        transaction.on_commit(lambda: _enqueue(job))
    return promotion


def _route(policy: Policy, version: PolicyVersion, target_env: str | None) -> tuple[str, str]:
    names = envs.names()
    if target_env is None:
        here = [n for n in names if (e := envs.registry_entry(policy, n)) and e.version_id == version.pk]
        target_env = envs.next_after(here[-1]) if here else None
        if target_env is None:
            raise Conflict(
                f"{version} is not registered in an environment it could be promoted from.",
                code="not_promotable",
                details={"environments": names},
            )
    target = envs.check(target_env, field="target")
    source = envs.previous_of(target)
    if source is None:
        raise ValidationFailed(
            f"{target} is the first environment: put versions in force there directly.",
            code="invalid_target",
            details={"target": target},
        )
    entry = envs.registry_entry(policy, source)
    if entry is None or entry.version_id != version.pk:
        raise Conflict(
            f"{version} is not what {source} runs; promote it to {source} first.",
            code="not_in_source",
            details={"source": source, "runs": entry.version.number if entry else None},
        )
    return target, source


def _enqueue(job: GateJob) -> None:
    from .tasks import run_gates

    run_gates.delay(job.tenant_id, job.pk)


def gates_run(job_id: int) -> GateJob:
    """Run every gate of a job, saving progress after each (the page polls it)."""
    job = GateJob.objects.select_related("promotion__version", "promotion__base_version").get(pk=job_id)
    promotion = job.promotion
    if job.status != GateJob.Status.PENDING:
        return job
    job.status, job.started_at = GateJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    g = GateInput(promotion.version, promotion.base_version, promotion.target_env)
    results = []
    try:
        for name in GATES:
            result = RUNNERS[name](g)
            result["insight"] = None if result["ok"] else explain(result, g)
            results.append(result)
            job.progress, job.results = [r["gate"] for r in results], results
            job.save(update_fields=["progress", "results"])
    except Exception as exc:  # a gate that crashed fails the promotion; it never applies
        logger.exception("promotion gate crashed", extra={"job": job.pk})
        results.append(
            {"gate": "error", "ok": False, "summary": f"A gate failed to run: {type(exc).__name__}", "insight": None}
        )
        job.status = GateJob.Status.ERROR
    else:
        job.status = GateJob.Status.DONE
    job.results, job.finished_at = results, timezone.now()
    job.save(update_fields=["status", "results", "finished_at"])
    _settle(promotion, job)
    return job


def _risk(promotion: PromotionRequest, results: list[dict[str, Any]]) -> str:
    """Low only when provably harmless: compiled form identical, or 0 decisions change over
    the environment's history and the red-team corpus and coverage is not lowered."""
    base = promotion.base_version
    if base is not None and diff_policies(base.source, promotion.version.source).compiled_identical:
        return "low"
    by = {r["gate"]: r for r in results}
    if not all(r["ok"] for r in results) or set(by) != set(GATES):
        return "review"
    sim = by["simulation"]["details"]
    unchanged = sim["summary"]["changed"] == 0 and sim["reason_codes_changed"] == 0
    unchanged = unchanged and by["redteam"]["details"]["changed"] == 0
    lowered = by["coverage"]["details"]["after"] < by["coverage"]["details"]["before"]
    return "low" if unchanged and not lowered else "review"


def _settle(promotion: PromotionRequest, job: GateJob) -> None:
    with transaction.atomic():
        promotion = _get(promotion.pk, lock=True)
        if promotion.status != PromotionRequest.Status.GATES:
            return
        failed = [r["gate"] for r in job.results if not r["ok"]]
        promotion.risk = _risk(promotion, job.results)
        promotion.status = PromotionRequest.Status.FAILED if failed else PromotionRequest.Status.READY
        if promotion.kind == PromotionRequest.Kind.AUTO_MERGE:
            if promotion.risk == "low" and not failed:
                promotion.soak_until = timezone.now() + timedelta(seconds=settings.TF_STUDIO_SOAK_SECONDS)
            else:  # not provably harmless: a human decides (a second author, for prod)
                promotion.kind = PromotionRequest.Kind.MANUAL
        promotion.save(update_fields=["risk", "status", "soak_until", "kind"])
        for gate in failed:
            event("gate_failed", policy=promotion.policy, gate=gate, promotion=promotion.pk, env=promotion.target_env)
        from .drift import drift_risk_from_gates

        drift_risk_from_gates(promotion)
        audit_record(
            "policy.gates_finished",
            target=promotion,
            payload={"failed": failed, "risk": promotion.risk, "job": job.pk},
        )


def promotion_approve(*, actor: AbstractBaseUser, pk: int) -> PromotionRequest:
    """A second author approves a prod promotion; it applies at once."""
    with transaction.atomic():
        promotion = _get(pk, lock=True)
        _must_be_ready(promotion)
        if promotion.proposer_id == actor.pk:
            raise PermissionDenied(
                "A second author must approve: the proposer cannot approve their own promotion.",
                code="second_author_required",
            )
        promotion.approver = actor
        _apply(promotion, actor)
    return promotion


def promotion_apply(*, actor: AbstractBaseUser, pk: int) -> PromotionRequest:
    """Apply a ready promotion that needs no approval (every environment before prod)."""
    with transaction.atomic():
        promotion = _get(pk, lock=True)
        _must_be_ready(promotion)
        if promotion.needs_approval:
            raise PermissionDenied(
                f"Promotions to {promotion.target_env} need a second author's approval.", code="approval_required"
            )
        _apply(promotion, actor)
    return promotion


def promotion_reject(*, actor: AbstractBaseUser, pk: int, reason: str = "") -> PromotionRequest:
    """Reject (or, for an auto-merge in its soak time, object to) a promotion."""
    with transaction.atomic():
        promotion = _get(pk, lock=True)
        if promotion.status not in OPEN:
            raise Conflict(f"The promotion is {promotion.status}.", code="promotion_closed")
        promotion.status, promotion.decided_at = PromotionRequest.Status.REJECTED, timezone.now()
        promotion.objection = reason[:300]
        promotion.save(update_fields=["status", "decided_at", "objection"])
        Drift.objects.filter(promotion=promotion, status=Drift.Status.MERGING).update(status=Drift.Status.OPEN)
        audit_record("policy.promotion_rejected", actor=actor, target=promotion, reason=reason)
    return promotion


def _must_be_ready(promotion: PromotionRequest) -> None:
    if promotion.status != PromotionRequest.Status.READY:
        raise Conflict(
            f"The promotion is {promotion.get_status_display()}; only a ready one can be applied.",
            code="promotion_not_ready",
            details={"status": promotion.status},
        )


def _apply(promotion: PromotionRequest, actor: AbstractBaseUser | None) -> None:
    now = timezone.now()
    kind = (
        Deployment.Kind.AUTO_MERGE if promotion.kind == PromotionRequest.Kind.AUTO_MERGE else Deployment.Kind.PROMOTION
    )
    envs.register(
        policy=promotion.policy,
        environment=promotion.target_env,
        version=promotion.version,
        kind=kind,
        actor=actor,
        promotion=promotion,
    )
    promotion.status, promotion.applied_at, promotion.decided_at = PromotionRequest.Status.APPLIED, now, now
    promotion.save(update_fields=["status", "applied_at", "decided_at", "approver"])
    audit_record(
        "policy.promoted",
        actor=actor,
        target=promotion,
        payload={"policy": promotion.policy.slug, "version": promotion.version.number, "to": promotion.target_env},
    )
    _time_to_fix(promotion, now)


def _time_to_fix(promotion: PromotionRequest, now: Any) -> None:
    """Failure → next successful promotion of the same policy to the same environment."""
    last_ok = (
        StudioEvent.objects.filter(name="time_to_fix", policy=promotion.policy, data__env=promotion.target_env)
        .order_by("-created_at")
        .first()
    )
    failures = StudioEvent.objects.filter(name="gate_failed", policy=promotion.policy, data__env=promotion.target_env)
    applied_before = StudioEvent.objects.filter(
        name="promotion_applied", policy=promotion.policy, data__env=promotion.target_env
    ).order_by("-created_at")
    since = applied_before.first().created_at if applied_before.exists() else None
    if since:
        failures = failures.filter(created_at__gt=since)
    first = failures.order_by("created_at").first()
    if first is not None and (last_ok is None or first.created_at > last_ok.created_at):
        seconds = (now - first.created_at).total_seconds()
        event("time_to_fix", policy=promotion.policy, value=seconds, env=promotion.target_env, promotion=promotion.pk)
    event("promotion_applied", policy=promotion.policy, env=promotion.target_env, promotion=promotion.pk)


def rollback(*, actor: AbstractBaseUser, slug: str, environment: str | None = None) -> Deployment:
    """Put the environment's previous registered version back (one click), audited; a version
    rolled back within 7 days of being registered counts as a revert for its author."""
    environment = envs.check(environment)
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(slug=slug).first()
        if policy is None:
            raise NotFound(f"No policy {slug!r}.")
        history = list(envs.registry_history(policy, environment).order_by("-created_at", "-pk")[:50])
        if not history:
            raise Conflict(f"{environment} has no registered version of {slug!r}.", code="nothing_to_roll_back")
        current = history[0]
        earlier = next((d.version for d in history[1:] if d.version_id != current.version_id), None)
        # What the environment ran before the current version's promotion, registered or not.
        previous = earlier or (current.promotion.base_version if current.promotion_id else None)
        if previous is None:
            raise Conflict(f"{environment} has no earlier version of {slug!r}.", code="nothing_to_roll_back")
        entry = envs.register(
            policy=policy, environment=environment, version=previous, kind=Deployment.Kind.ROLLBACK, actor=actor
        )
        audit_record(
            "policy.rolled_back",
            actor=actor,
            target=policy,
            payload={"environment": environment, "from": current.version.number, "to": previous.number},
        )
        event("rollback", policy=policy, actor=actor, env=environment, version=current.version.number)
        if timezone.now() - current.created_at <= REVERT_WINDOW:
            author = current.promotion.proposer if current.promotion_id else current.version.created_by
            event("revert", policy=policy, actor=author, env=environment, version=current.version.number)
    return entry


def mitigation_apply(*, actor: AbstractBaseUser, pk: int, gate: str) -> PromotionRequest:
    """The one-click fix: the failed gate's suggested draft saved as a new version in the first
    environment, then proposed again along the same path (dev first when the target is later)."""
    from .services import policy_save_version

    promotion = _get(pk)
    job = promotion.jobs.order_by("-created_at", "-pk").first()
    result = next((r for r in (job.results if job else []) if r["gate"] == gate and not r["ok"]), None)
    source = (result or {}).get("insight", {}) or {}
    if not source.get("mitigation"):
        raise NotFound(f"No suggested fix for the {gate} gate of promotion {pk}.")
    version = policy_save_version(
        actor=actor,
        slug=promotion.policy.slug,
        source=source["mitigation"],
        note=f"Suggested fix for the {gate} gate of promotion #{pk}",
        activate=True,
        environment=envs.first_name(),
    )
    target = promotion.target_env
    chain = envs.names()
    # Walk the fix up to the environment before the target without gates of its own only when
    # that is the first environment; otherwise it needs its own promotions first.
    if chain.index(target) - 1 != 0:
        target = chain[1]
    return promotion_create(actor=actor, slug=promotion.policy.slug, number=version.number, target_env=target)
