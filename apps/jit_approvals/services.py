"""Writes for JIT access. One service per decision path, used by the web UI, the API, Slack
buttons and e-mail links alike, so the rules live once: distinct approvers, never the
requester, active members allowed by django-guardian for the scope, decisions only while the
request is pending and before its deadline. Every outcome, including each refusal, is an
audit event."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from apps.core.services import audit_record
from apps.graphs.models import Dataset
from apps.policy_studio.decide import active_policies, subject_for
from apps.policy_studio.lac.engine import Context, Resource
from apps.policy_studio.lac.language import JitRule
from apps.queries.models import QueryRun

from . import limits, selectors
from .models import AccessGrant, AccessRequest, Approval, Notification, SlackIdentity

EXPIRY_NOTICE = timedelta(minutes=15)


def _find_rule(
    requester: AbstractBaseUser, roles: frozenset[str], dataset: Dataset, classes: set[str], purpose: str, now: datetime
) -> tuple[Any, JitRule]:
    from apps.policy_studio.lac.engine import evaluate_access

    version = dataset.latest_version
    resource = Resource(
        dataset.slug,
        None,
        frozenset(classes),
        dataset.license,
        dataset.legal_authority,
        (now - version.created_at).days if version else 0,
    )
    subject = subject_for(requester, roles)
    for pv, policy in active_policies():
        if policy.mode != "enforce" or not policy.jit:
            continue
        result = evaluate_access(policy, subject, resource, Context(purpose, now))
        if result.jit_rule and "JIT_REQUIRED" in result.codes:
            return pv, next(j for j in policy.jit if j.id == result.jit_rule)
    raise ValidationFailed(
        "No just-in-time rule applies to this scope: either you already have access, or the policy does not let you request it.",
        code="no_jit_rule",
    )


def request_create(
    *,
    requester: AbstractBaseUser,
    roles: frozenset[str],
    reason: str,
    duration_minutes: int,
    dataset_slug: str | None = None,
    data_classes: list[str] | None = None,
    purpose: str | None = None,
    run_id: int | None = None,
    now: datetime | None = None,
) -> AccessRequest:
    """Ask for access to a scope (dataset + data classes + purpose), for a duration, with a
    reason. The scope comes from a denied query (``run_id``) or is given explicitly."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not limits.REASON_MIN <= len(reason) <= limits.REASON_MAX:
        raise ValidationFailed(
            f"Give a reason of {limits.REASON_MIN} to {limits.REASON_MAX} characters; approvers read it.",
            details={"reason": "too_short" if len(reason) < limits.REASON_MIN else "too_long"},
        )
    if run_id is not None:
        run = QueryRun.objects.filter(pk=run_id, user=requester).select_related("dataset_version__dataset").first()
        if run is None:
            raise NotFound("No such query of yours.")
        dataset = run.dataset_version.dataset
        data_classes = run.facts["resource"]["data_classes"]
        purpose = run.spec["purpose"]
    else:
        dataset = Dataset.objects.filter(slug=dataset_slug or "").first()
        if dataset is None:
            raise NotFound(f"No dataset {dataset_slug!r}.")
        data_classes = sorted(set(data_classes or []) | {dataset.structure_class})
    if not purpose or len(purpose) > limits.PURPOSE_MAX:
        raise ValidationFailed(
            f"Say what the access is for (purpose, at most {limits.PURPOSE_MAX} characters).",
            details={"purpose": "required" if not purpose else "too_long"},
        )
    pv, rule = _find_rule(requester, roles, dataset, set(data_classes), purpose, now)
    longest = min(rule.max_grant_minutes, limits.DURATION_MAX_MINUTES)
    if not 1 <= duration_minutes <= longest:
        raise ValidationFailed(
            f"Duration must be between 1 and {longest} minutes for this scope.",
            details={"duration_minutes": {"max": longest}},
        )
    request = AccessRequest(
        requester=requester,
        policy_version=pv,
        rule_id=rule.id,
        dataset=dataset,
        data_classes=sorted(data_classes),
        purpose=purpose,
        reason=reason,
        reason_sha256=hashlib.sha256(reason.encode()).hexdigest(),
        duration_minutes=duration_minutes,
        approvals_required=rule.approvers,
        approver_groups=list(rule.approver_groups),
        fallback_groups=list(rule.fallback_groups),
        high_risk=rule.high_risk,
        created_at=now,
        remind_at=now + timedelta(minutes=rule.reminder_minutes),
        escalate_at=now + timedelta(minutes=rule.escalate_after_minutes),
        deadline_at=now + timedelta(minutes=rule.max_wait_minutes),
        source_run_id=run_id,
    )
    # Who gets notified, before the transaction: shared by a burst of requests on the
    # same dataset for a few seconds (selectors._candidates_cached); deciding re-checks.
    approvers = selectors.eligible_approvers(request, cached=True)
    if len(approvers) < request.approvals_required:
        raise ValidationFailed(
            f"This scope needs {request.approvals_required} approver(s) and only {len(approvers)} eligible approver(s) exist.",
            code="not_enough_approvers",
        )
    from . import notify

    with transaction.atomic():
        request.save()
        notify.queue_for_approvers(request, approvers, Notification.Kind.REQUEST, new_request=True)
        # Last: the audit append locks the tenant's chain until commit, so nothing else
        # runs while concurrent requests of the tenant wait for it.
        audit_record(
            "jit.requested",
            actor=requester,
            target=request,
            reason=reason,
            payload={
                "dataset": dataset.slug,
                "data_classes": request.data_classes,
                "purpose": purpose,
                "duration_minutes": duration_minutes,
                "approvals_required": request.approvals_required,
                "rule": rule.id,
                "reason_sha256": request.reason_sha256,
                "source_run": run_id,
            },
        )
    return request


def _refuse(
    request: AccessRequest, actor: AbstractBaseUser | None, code: str, message: str, channel: str
) -> DomainError:
    """Record a refused decision (in its own transaction, so it survives) and return the error."""
    with transaction.atomic():
        audit_record("jit.decision_refused", actor=actor, target=request, payload={"code": code, "channel": channel})
    error_class = {"not_pending": Conflict, "already_decided": Conflict, "past_deadline": Conflict}.get(
        code, PermissionDenied
    )
    return error_class(message, code=code)


def decide(
    *,
    request_id: int,
    approver: AbstractBaseUser,
    decision: str,
    channel: str,
    comment: str = "",
    now: datetime | None = None,
) -> AccessRequest:
    """Approve or deny. Safe under concurrent clicks: the request row is locked, an approver
    decides once (unique constraint), and the grant is created once (one-to-one)."""
    now = now or timezone.now()
    if decision not in Approval.Decision.values:
        raise ValidationFailed("decision must be approve or deny.", details={"decision": decision})
    comment = (comment or "").strip()
    if Approval.comment_required(decision, channel) and not comment:
        raise ValidationFailed(
            "Say why you deny the request; the requester reads it.",
            code="comment_required",
            details={"comment": "required"},
        )
    with transaction.atomic():
        request = AccessRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise NotFound("No such access request.")
        refusal = request.decision_refusal(approver, now)
        if refusal is None and (
            not approver.is_active or approver.pk not in {u.pk for u in selectors.eligible_approvers(request)}
        ):
            refusal = ("not_eligible", "You are not an eligible approver for this request.")
        if refusal is None:
            try:
                with transaction.atomic():
                    Approval.objects.create(
                        request=request,
                        approver=approver,
                        decision=decision,
                        channel=channel,
                        comment=comment[: limits.COMMENT_MAX],
                        created_at=now,
                    )
            except IntegrityError:
                refusal = ("already_decided", "You have already decided on this request.")
        if refusal is None:
            audit_record(
                f"jit.{'approved' if decision == 'approve' else 'denied'}",
                actor=approver,
                target=request,
                payload={"channel": channel},
            )
            _settle(request, decision, now)
            _announce(request, approver.get_username(), decision)
    if refusal is not None:
        raise _refuse(request, approver, refusal[0], refusal[1], channel)
    return request


def _announce(request: AccessRequest, who: str, decision: str) -> None:
    """After commit, rewrite the Slack messages about the request to say who decided —
    whatever channel the decision came from."""
    from .tasks import slack_update

    tenant_id, rid = request.tenant_id, request.pk
    transaction.on_commit(lambda: slack_update.delay(tenant_id, rid, who, decision))


def _settle(request: AccessRequest, decision: str, now: datetime) -> None:
    from . import notify

    if decision == Approval.Decision.DENY:
        request.status, request.decided_at = AccessRequest.Status.DENIED, now
        request.save(update_fields=["status", "decided_at"])
        audit_record("jit.request_denied", target=request, payload={"decided_by": "approver"})
        notify.queue_for_requester(request, Notification.Kind.DECISION)
        return
    approvals = request.approvals.filter(decision=Approval.Decision.APPROVE).count()
    if approvals < request.approvals_required:
        return
    request.status, request.decided_at = AccessRequest.Status.APPROVED, now
    request.save(update_fields=["status", "decided_at"])
    grant = AccessGrant.objects.create(
        request=request,
        user=request.requester,
        rule_id=request.rule_id,
        dataset=request.dataset,
        data_classes=request.data_classes,
        purpose=request.purpose,
        reason_sha256=request.reason_sha256,
        starts_at=now,
        expires_at=now + timedelta(minutes=request.duration_minutes),
    )
    audit_record(
        "jit.granted",
        target=grant,
        payload={
            "request": request.pk,
            "approvals": list(request.approvals.values_list("approver__username", "channel")),
            "expires_at": grant.expires_at,
            "reason_sha256": grant.reason_sha256,
        },
    )
    notify.queue_for_requester(request, Notification.Kind.DECISION)


def grant_revoke(
    *, grant_id: int, actor: AbstractBaseUser, reason: str = "", now: datetime | None = None
) -> AccessGrant:
    """End a grant now. Ending someone else's access needs a reason, which the holder is told
    (e-mail, and Slack when linked); ending your own does not."""
    from . import notify

    now = now or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        grant = AccessGrant.objects.select_for_update().select_related("request").filter(pk=grant_id).first()
        if grant is None:
            raise NotFound("No such grant.")
        if AccessGrant.revoke_reason_required(grant.user_id, actor.pk) and not reason:
            raise ValidationFailed(
                "Say why you revoke this grant; its holder is told.",
                code="reason_required",
                details={"reason": "required"},
            )
        if grant.revoked_at is None:
            grant.revoked_at, grant.revoked_by = now, actor
            grant.save(update_fields=["revoked_at", "revoked_by"])
            audit_record("jit.revoked", actor=actor, target=grant, reason=reason, payload={"request": grant.request_id})
            if grant.user_id != actor.pk:
                notify.queue_for_requester(
                    grant.request,
                    Notification.Kind.REVOKED,
                    payload={"grant": grant.pk, "by": actor.get_username(), "reason": reason[: limits.COMMENT_MAX]},
                )
    return grant


def run_under_grant(*, grant_id: int, run_id: int, user: AbstractBaseUser, roles: frozenset[str]) -> QueryRun:
    """Run one of the user's queries again, unchanged, under their grant: the spec names the
    grant and carries the reason it was approved for (the binding the policy checks)."""
    from apps.queries.pipeline import query_run_execute

    grant = AccessGrant.objects.select_related("request").filter(pk=grant_id, user=user).first()
    run = QueryRun.objects.filter(pk=run_id, user=user).first()
    if grant is None or run is None:
        raise NotFound("No such grant or query of yours.")
    spec = {**run.spec, "grant": grant.pk, "reason": grant.request.reason}
    return query_run_execute(actor=user, roles=roles, spec=spec)


def request_cancel(*, request_id: int, actor: AbstractBaseUser, now: datetime | None = None) -> AccessRequest:
    with transaction.atomic():
        request = AccessRequest.objects.select_for_update().filter(pk=request_id, requester=actor).first()
        if request is None:
            raise NotFound("No such request of yours.")
        if request.status != AccessRequest.Status.PENDING:
            raise Conflict(f"This request is already {request.get_status_display().lower()}.", code="not_pending")
        request.status, request.decided_at = AccessRequest.Status.CANCELLED, now or timezone.now()
        request.save(update_fields=["status", "decided_at"])
        audit_record("jit.cancelled", actor=actor, target=request)
    return request


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The beat job for the current tenant: auto-deny at the deadline, reminders, escalation
    to fallback approvers, expiring-grant notices, and an audit event when a grant expires.
    Idempotent: each step stamps the row it handled."""
    from . import notify

    now = now or timezone.now()
    counts = {"expired": 0, "reminded": 0, "escalated": 0, "expiring_noticed": 0, "grants_expired": 0}
    for request in AccessRequest.objects.filter(status=AccessRequest.Status.PENDING, deadline_at__lte=now):
        with transaction.atomic():
            if AccessRequest.objects.filter(pk=request.pk, status=AccessRequest.Status.PENDING).update(
                status=AccessRequest.Status.EXPIRED, decided_at=now
            ):
                audit_record("jit.expired", target=request, payload={"deadline_at": request.deadline_at})
                notify.queue_for_requester(request, Notification.Kind.DECISION)
                counts["expired"] += 1
    for request in AccessRequest.objects.filter(
        status=AccessRequest.Status.PENDING, remind_at__lte=now, reminded_at__isnull=True
    ):
        with transaction.atomic():
            if AccessRequest.objects.filter(pk=request.pk, reminded_at__isnull=True).update(reminded_at=now):
                decided = set(request.approvals.values_list("approver_id", flat=True))
                notify.queue_for_approvers(
                    request,
                    [u for u in selectors.eligible_approvers(request) if u.pk not in decided],
                    Notification.Kind.REMINDER,
                )
                audit_record("jit.reminded", target=request)
                counts["reminded"] += 1
    for request in AccessRequest.objects.filter(
        status=AccessRequest.Status.PENDING, escalate_at__lte=now, escalated_at__isnull=True
    ):
        with transaction.atomic():
            if AccessRequest.objects.filter(pk=request.pk, escalated_at__isnull=True).update(escalated_at=now):
                request.escalated_at = now
                fallback = selectors.fallback_approvers(request)
                notify.queue_for_approvers(request, fallback, Notification.Kind.ESCALATION)
                audit_record(
                    "jit.escalated",
                    target=request,
                    payload={"fallback_approvers": [u.get_username() for u in fallback]},
                )
                counts["escalated"] += 1
    soon = AccessGrant.objects.filter(
        revoked_at__isnull=True, expiry_noticed_at__isnull=True, expires_at__gt=now, expires_at__lte=now + EXPIRY_NOTICE
    )
    for grant in soon:
        if AccessGrant.objects.filter(pk=grant.pk, expiry_noticed_at__isnull=True).update(expiry_noticed_at=now):
            notify.queue_for_requester(grant.request, Notification.Kind.EXPIRING)
            counts["expiring_noticed"] += 1
    for grant in AccessGrant.objects.filter(
        expires_at__lte=now, expired_recorded_at__isnull=True, revoked_at__isnull=True
    ):
        with transaction.atomic():
            if AccessGrant.objects.filter(pk=grant.pk, expired_recorded_at__isnull=True).update(
                expired_recorded_at=now
            ):
                audit_record("jit.grant_expired", target=grant, payload={"expires_at": grant.expires_at})
                counts["grants_expired"] += 1
    return counts


# --- Slack identity linking ------------------------------------------------------------------


def slack_link_start(*, user: AbstractBaseUser, slack_user_id: str, now: datetime | None = None) -> str:
    """Send a one-time code to the Slack account; the link is verified when the user types it
    back. Returns nothing secret (the code goes only to Slack)."""
    from . import notify

    now = now or timezone.now()
    slack_user_id = (slack_user_id or "").strip().upper()
    if not slack_user_id.startswith(("U", "W")) or not slack_user_id.isalnum() or len(slack_user_id) > 20:
        raise ValidationFailed(
            "That does not look like a Slack member ID (it starts with U or W).", details={"slack_user_id": "invalid"}
        )
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        taken = (
            SlackIdentity.objects.filter(slack_user_id=slack_user_id, verified_at__isnull=False)
            .exclude(user=user)
            .exists()
        )
        if taken:
            raise Conflict("That Slack account is already linked to someone else.", code="slack_taken")
        identity, _ = SlackIdentity.objects.update_or_create(
            user=user,
            defaults={
                "slack_user_id": slack_user_id,
                "code_sha256": hashlib.sha256(code.encode()).hexdigest(),
                "code_expires_at": now + timedelta(minutes=10),
                "verified_at": None,
            },
        )
        audit_record("slack.link_started", actor=user, target=identity, payload={"slack_user_id": slack_user_id})
        notify.queue_slack_link_code(identity, code)
    return slack_user_id


def slack_link_confirm(*, user: AbstractBaseUser, code: str, now: datetime | None = None) -> SlackIdentity:
    now = now or timezone.now()
    with transaction.atomic():
        identity = SlackIdentity.objects.select_for_update().filter(user=user).first()
        ok = (
            identity is not None
            and identity.code_expires_at is not None
            and now < identity.code_expires_at
            and secrets.compare_digest(identity.code_sha256, hashlib.sha256((code or "").strip().encode()).hexdigest())
        )
        if not ok:
            audit_record(
                "slack.link_failed", actor=user, target=identity or user, target_type="" if identity else "auth.user"
            )
        else:
            identity.verified_at, identity.code_sha256, identity.code_expires_at = now, "", None
            identity.save(update_fields=["verified_at", "code_sha256", "code_expires_at"])
            audit_record("slack.linked", actor=user, target=identity, payload={"slack_user_id": identity.slack_user_id})
    if not ok:
        raise ValidationFailed("That code is wrong or has expired; start again.", code="bad_code")
    return identity
