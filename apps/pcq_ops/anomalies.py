"""Anomalies, on-call pages and suppression rules (writes).

An anomaly is recorded with its lineage and "what changed since the last good run"; it is
checked against the active suppression rules (suppressed: recorded and counted, never
paged); otherwise, at or above ``TF_PCQ_PAGE_MIN_SEVERITY``, it joins the open page of its
group (same root) or opens a new one, sent to the tenant's on-call in Slack and by e-mail
through the notification outbox (delivered after commit)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.core.errors import DomainError, PermissionDenied
from apps.core.services import audit_record

from . import approval_links, lineage, rules
from .models import Anomaly, OnCallPage, ReplayFixture, RunLineage, SuppressionRule
from .services import _on_commit_task


def _last_good(subject: str, before: datetime, verification: Any = None) -> dict[str, Any] | None:
    rows = RunLineage.objects.filter(subject=subject, good=True, created_at__lte=before)
    if verification is not None:
        rows = rows.exclude(verification=verification)
    row = rows.first()
    return row.lineage if row else None


def anomaly_record(
    *,
    kind: str,
    message: str,
    current: dict[str, Any],
    subject: str,
    fixture: ReplayFixture | None = None,
    verification: Any = None,
    dataset: str = "",
    transform: str = "",
    metric: str = "",
    delta: float | None = None,
    tolerance: float | None = None,
    now: datetime | None = None,
) -> Anomaly:
    """Record one anomaly (inside the caller's transaction), suppress or page it."""
    now = now or timezone.now()
    last_good = _last_good(subject, now, verification)
    found = lineage.compare(current, last_good)
    a = Anomaly.objects.create(
        kind=kind,
        severity=rules.severity_for(kind, delta, tolerance),
        message=message,
        fixture=fixture,
        verification=verification,
        dataset=dataset,
        transform=transform,
        metric=metric,
        delta=delta,
        lineage={n: {**node, "change": found["changes"].get(n, "")} for n, node in current.items()},
        last_good=last_good,
        changed=found["changed"],
        root_kind=found["root_kind"],
        root=found["root"][:255],
        created_at=now,
    )
    rule = next((r for r in active_rules(now) if rules.matches(r.matchers, a.as_match())), None)
    if rule is not None:
        a.suppressed_by = rule
        a.save(update_fields=["suppressed_by"])
    audit_record(
        "pcq_ops.anomaly_recorded",
        target=a,
        payload={"kind": kind, "severity": a.severity, "root_kind": a.root_kind, "suppressed_by": rule and rule.pk},
    )
    if rule is None and rules.severity_rank(a.severity) >= rules.severity_rank(settings.TF_PCQ_PAGE_MIN_SEVERITY):
        _page(a, now)
    return a


def _page(a: Anomaly, now: datetime) -> None:
    from . import mail

    key = rules.group_key(a.as_match())
    window = now - timedelta(minutes=settings.TF_PCQ_PAGE_GROUP_MINUTES)
    page = OnCallPage.objects.filter(group_key=key[:255], sent_at__gt=window).first()
    if page is None:
        page = OnCallPage.objects.create(
            group_key=key[:255], severity=a.severity, title=(a.root or a.message)[:255], sent_at=now
        )
        page.recipients = mail.queue_page(page)
        page.save(update_fields=["recipients"])
        audit_record(
            "pcq_ops.page_sent",
            target=page,
            payload={"group": key, "severity": a.severity, "recipients": len(page.recipients)},
        )
    a.page = page
    a.save(update_fields=["page"])


# --- Suppression rules -------------------------------------------------------------------

APPROVER_ROLES = frozenset({"admin", "approver"})


def active_rules(now: datetime | None = None) -> list[SuppressionRule]:
    now = now or timezone.now()
    return list(
        SuppressionRule.objects.filter(status=SuppressionRule.Status.ACTIVE, starts_at__lte=now, expires_at__gt=now)
    )


def _recent(now: datetime) -> list[dict[str, Any]]:
    since = now - timedelta(days=settings.TF_PCQ_BREADTH_WINDOW_DAYS)
    qs = Anomaly.objects.filter(created_at__gte=since).select_related("fixture")
    return [a.as_match() for a in qs]


def suppression_create(
    *, actor: AbstractBaseUser, matchers: Any, reason: str, hours: Any, now: datetime | None = None
) -> SuppressionRule:
    """A rule waiting for approval. Refused: unknown or empty matchers, no reason, a
    lifetime over the maximum, fewer matchers than the minimum. A rule that would have muted
    more than the configured share of recent anomalies needs a second approver."""
    now = now or timezone.now()
    try:
        clean = rules.clean_matchers(matchers)
    except rules.RuleInvalid as exc:
        raise DomainError(str(exc), code="suppression_invalid", details=exc.details) from exc
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("A suppression rule needs a reason.", code="reason_required")
    limit = settings.TF_PCQ_SUPPRESSION_MAX_HOURS
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= limit:
        raise DomainError(
            f"hours must be a number above 0 and at most {limit} (the maximum lifetime).",
            code="suppression_lifetime",
            details={"hours": hours, "max_hours": limit},
        )
    verdict = rules.breadth_verdict(
        clean,
        _recent(now),
        min_matchers=settings.TF_PCQ_SUPPRESSION_MIN_MATCHERS,
        max_share=settings.TF_PCQ_SUPPRESSION_MAX_SHARE,
    )
    if verdict["refused"]:
        raise DomainError(
            f"Too broad: a rule needs at least {settings.TF_PCQ_SUPPRESSION_MIN_MATCHERS} matchers.",
            code="suppression_too_broad",
            details=verdict,
        )
    with transaction.atomic():
        rule = SuppressionRule.objects.create(
            matchers=clean,
            reason=reason.strip(),
            created_by=actor,
            approvals_required=2 if verdict["extra_approver"] else 1,
            breadth=verdict,
            created_at=now,
            expires_at=now + timedelta(hours=float(hours)),
        )
        audit_record(
            "pcq_ops.suppression_created",
            actor=actor,
            target=rule,
            reason=rule.reason,
            payload={"matchers": clean, "expires_at": rule.expires_at.isoformat(), "breadth": verdict},
        )
        approval_links.queue_approval_requests(rule)
    return rule


def suppression_approve(
    rule: SuppressionRule,
    *,
    actor: AbstractBaseUser,
    roles: frozenset[str],
    channel: str = "web",
    now: datetime | None = None,
) -> SuppressionRule:
    """A second person (approver or admin, never the creator) approves; the rule is active
    once it has the approvals it needs. It still expires at the time set at creation."""
    now = now or timezone.now()
    if not roles & APPROVER_ROLES:
        raise PermissionDenied("Approving a suppression rule needs the approver or admin role.")
    with transaction.atomic():
        rule = SuppressionRule.objects.select_for_update().get(pk=rule.pk)
        if rule.status != SuppressionRule.Status.PENDING or rule.expires_at <= now:
            raise DomainError("Only a pending, unexpired rule can be approved.", code="suppression_not_pending")
        if actor.pk == rule.created_by_id:
            raise DomainError("The creator of a rule cannot approve it.", code="self_approval")
        if actor.pk in rule.approved_by:
            raise DomainError("You already approved this rule.", code="already_approved")
        rule.approved_by = [*rule.approved_by, actor.pk]
        if len(rule.approved_by) >= rule.approvals_required:
            rule.status, rule.starts_at = SuppressionRule.Status.ACTIVE, now
        rule.save(update_fields=["approved_by", "status", "starts_at"])
        audit_record(
            "pcq_ops.suppression_approved",
            actor=actor,
            target=rule,
            payload={
                "approvals": len(rule.approved_by),
                "required": rule.approvals_required,
                "status": rule.status,
                "channel": channel,
            },
        )
    return rule


def suppression_revoke(rule: SuppressionRule, *, actor: AbstractBaseUser, reason: str) -> SuppressionRule:
    with transaction.atomic():
        rule = SuppressionRule.objects.select_for_update().get(pk=rule.pk)
        if rule.status not in (SuppressionRule.Status.PENDING, SuppressionRule.Status.ACTIVE):
            raise DomainError("The rule has already ended.", code="suppression_ended")
        rule.status, rule.ended_at = SuppressionRule.Status.REVOKED, timezone.now()
        rule.save(update_fields=["status", "ended_at"])
        audit_record("pcq_ops.suppression_revoked", actor=actor, target=rule, reason=reason)
    return rule


def suppressions_sweep(now: datetime | None = None) -> dict[str, int]:
    """Expire rules past their end (audited) and remind creators of rules about to end."""
    from .tasks import suppression_reminder_mail

    now = now or timezone.now()
    live = (SuppressionRule.Status.PENDING, SuppressionRule.Status.ACTIVE)
    expired = reminded = 0
    with transaction.atomic():
        for rule in SuppressionRule.objects.select_for_update().filter(status__in=live, expires_at__lte=now):
            rule.status, rule.ended_at = SuppressionRule.Status.EXPIRED, now
            rule.save(update_fields=["status", "ended_at"])
            audit_record(
                "pcq_ops.suppression_expired", target=rule, payload={"expires_at": rule.expires_at.isoformat()}
            )
            expired += 1
        soon = now + timedelta(hours=settings.TF_PCQ_SUPPRESSION_REMIND_HOURS)
        for rule in SuppressionRule.objects.select_for_update().filter(
            status=SuppressionRule.Status.ACTIVE, reminded_at__isnull=True, expires_at__lte=soon
        ):
            rule.reminded_at = now
            rule.save(update_fields=["reminded_at"])
            audit_record(
                "pcq_ops.suppression_reminded", target=rule, payload={"expires_at": rule.expires_at.isoformat()}
            )
            _on_commit_task(suppression_reminder_mail, rule.pk)
            reminded += 1
    return {"expired": expired, "reminded": reminded}


# --- Production replays ------------------------------------------------------------------

PRODUCTION_KINDS = {"variance": "variance", "error": "error", "attestation_failed": "attestation_failed"}


def verification_finished(verification: Any) -> Anomaly | None:
    """After a production verification finished: record its lineage (good = match) and, for
    a variance, an error or an attestation failure, an anomaly."""
    from apps.provenance import attest

    body = verification.manifest.body
    recorded = body["inputs"][0]
    metric = (body.get("outputs") or {}).get("metric", "")
    subject = f"query:{recorded['dataset']}:{metric}"
    claims = (verification.verifier_evidence or {}).get("claims") or {}
    measured = claims.get("measurement") or attest.measurement("verifier")
    current = lineage.for_manifest(body, measured)
    good = verification.status == "match"
    with transaction.atomic():
        RunLineage.objects.update_or_create(
            verification=verification, defaults={"subject": subject, "good": good, "lineage": current}
        )
        if good or verification.status not in PRODUCTION_KINDS:
            return None
        summary = (verification.diff or {}).get("structure", {}).get("metric_summary", {})
        return anomaly_record(
            kind=PRODUCTION_KINDS[verification.status],
            message=verification.message,
            current=current,
            subject=subject,
            verification=verification,
            dataset=recorded["dataset"],
            transform="metric" if summary.get("outside_tolerance") else "",
            metric=metric,
            delta=summary.get("max_delta"),
            tolerance=summary.get("tolerance"),
        )
