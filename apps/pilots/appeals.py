"""Appeals: a tenant appeals a ZK-TX verdict, a refusal or a quota decision with a reason; the
appeal waits in the operators' (partner success) queue under an SLA (``TF_PILOT_APPEAL_SLA_HOURS``):
a reminder at ``TF_PILOT_APPEAL_REMIND_HOURS``, escalation to operators and both tenants' admins
at the deadline, like JIT requests (the beat sweep, the same e-mail outbox). An operator decides
with a written reason. Every step is audited in both tenants' chains with ids, codes and the
reason's SHA-256 — never the reason's text (it may quote a selector) nor any selector.

Every service takes ``now`` so tests drive the SLA with their own clock."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.ids import is_uuid
from apps.core.models import AuditEvent, Membership, Role, Tenant
from apps.core.services import audit_record
from apps.core.tenancy import require_current_tenant, tenant_context
from apps.jit_approvals import notify
from apps.zk_proofs.models import Participation, PilotSettings
from apps.zk_proofs.services import participation_for

from .models import Appeal, AppealParty

REASON_MIN, REASON_MAX = 10, 4000
# Which audited decision each subject appeals, and the payload field naming it.
DECISION_EVENTS = {Appeal.Subject.REFUSAL: ("zk.refused", "code"), Appeal.Subject.QUOTA: ("zk.quota_exceeded", "quota")}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _clean_reason(reason: Any, what: str = "reason") -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise ValidationFailed(
            f"Give a {what} of {REASON_MIN} to {REASON_MAX} characters.",
            code="bad_reason",
            details={"field": what, "min_length": REASON_MIN, "max_length": REASON_MAX},
        )
    return text


def _partner_of_session(session_id: str) -> Tenant:
    part = participation_for(session_id)  # another tenant's (or no) session: 404
    other = Participation.all_tenants.filter(session=part.session).exclude(tenant=part.tenant).first()
    if other is None:
        raise NotFound("No such session.")
    return other.tenant


def _named_partner(slug: str) -> Tenant | None:
    if not slug:
        return None
    pilot = PilotSettings.objects.first()
    tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
    if tenant is None or pilot is None or slug not in (pilot.partners or []):
        raise NotFound("No such partner in your pilot.", code="partner_unknown")
    return tenant


def _decision_event(subject: str, code: str, now: datetime) -> AuditEvent:
    action, field = DECISION_EVENTS[subject]  # type: ignore[index]
    if not code:
        raise ValidationFailed(
            "Name the refusal code or quota (the answer's code or details.quota).",
            code="decision_required",
            details={"field": "decision_code"},
        )
    event = (
        AuditEvent.objects.filter(action=action, created_at__gte=now - timedelta(days=30), created_at__lte=now)
        .filter(**{f"payload__{field}": code})
        .order_by("-seq")
        .first()
    )
    if event is None:
        raise NotFound(
            "Your audit trail has no such decision in the last 30 days.",
            code="unknown_decision",
            details={"subject": subject, "decision_code": code},
        )
    return event


def _audit_both(action: str, appeal: Appeal, actor: AbstractBaseUser | None, **payload: Any) -> None:
    """One event in each party's chain (inside the caller's transaction)."""
    base = {"appeal": str(appeal.public_id), "subject": appeal.subject, **payload}
    for party in AppealParty.all_tenants.filter(appeal=appeal).select_related("tenant"):
        with tenant_context(party.tenant):
            audit_record(action, actor=actor, target=party, payload=base)


def appeal_file(
    *,
    actor: AbstractBaseUser,
    subject: str,
    reason: str,
    session_id: str = "",
    decision_code: str = "",
    partner_slug: str = "",
    now: datetime | None = None,
) -> AppealParty:
    """File an appeal for the current tenant. A verdict appeal names a session the tenant took
    part in (its counterpart becomes the partner party); a refusal or quota appeal names the
    code or quota its 4xx answer gave, which must be in the tenant's audit trail, and
    optionally the session or partner it concerned."""
    now = now or timezone.now()
    me = require_current_tenant()
    if subject not in Appeal.Subject.values:
        raise ValidationFailed(
            "subject must be verdict, refusal or quota.", code="bad_subject", details={"field": "subject"}
        )
    text = _clean_reason(reason)
    partner, event = None, None
    if subject == Appeal.Subject.VERDICT:
        if not session_id:
            raise ValidationFailed("A verdict appeal names its session.", code="session_required")
        part = participation_for(session_id)
        if part.session.status not in ("done", "failed"):
            raise Conflict("The session has no verdict yet.", code="not_ready")
        partner = _partner_of_session(session_id)
    else:
        event = _decision_event(subject, decision_code.strip(), now)
        partner = _partner_of_session(session_id) if session_id else _named_partner(partner_slug.strip())
    open_same = AppealParty.objects.filter(
        appeal__status=Appeal.Status.OPEN,
        appeal__subject=subject,
        appeal__session_id=session_id or None,
        appeal__decision_code=decision_code.strip() if event else "",
    )
    if open_same.exists():
        raise Conflict("An appeal about this is already open.", code="appeal_open")
    with transaction.atomic():
        appeal = Appeal.objects.create(
            subject=subject,
            session_id=session_id or None,
            decision_code=decision_code.strip() if event else "",
            audit_seq=event.seq if event else None,
            reason=text,
            filed_by=actor,
            created_at=now,
            remind_at=now + timedelta(hours=settings.PILOT_APPEAL_REMIND_HOURS),
            due_at=now + timedelta(hours=settings.PILOT_APPEAL_SLA_HOURS),
        )
        mine = AppealParty.objects.create(appeal=appeal, role=AppealParty.Role.APPELLANT)
        if partner is not None:
            with tenant_context(partner):
                AppealParty.objects.create(appeal=appeal, role=AppealParty.Role.PARTNER)
        _audit_both(
            "pilot.appeal_filed",
            appeal,
            actor,
            appellant=me.slug,
            session=session_id or None,
            decision_code=appeal.decision_code or None,
            decision_audit_seq=appeal.audit_seq,
            reason_sha256=_digest(text),
            due_at=appeal.due_at.isoformat(),
        )
        _notify(appeal, "filed", operators(), f"New pilot appeal from {me.slug}: {appeal.get_subject_display()}")
    return mine


def appeal_for(public_id: str) -> AppealParty:
    """The current tenant's party row of an appeal; not a party (or no such appeal): 404."""
    party = (
        AppealParty.objects.select_related("appeal").filter(appeal__public_id=public_id).first()
        if is_uuid(public_id)
        else None
    )
    if party is None:
        raise NotFound("No such appeal.")
    return party


def operator_appeal(public_id: str) -> Appeal:
    appeal = Appeal.objects.filter(public_id=public_id).first() if is_uuid(public_id) else None
    if appeal is None:
        raise NotFound("No such appeal.")
    return appeal


def operator_queue(limit: int = 500) -> list[Appeal]:
    """Open appeals first, soonest deadline first; then the decided ones, latest first."""
    open_first = Case(When(status=Appeal.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    rows = Appeal.objects.select_related("filed_by", "decided_by").annotate(closed=open_first)
    opened = list(rows.filter(closed=0).order_by("due_at")[:limit])
    return opened + list(rows.filter(closed=1).order_by("-decided_at")[: max(0, limit - len(opened))])


def require_operator(user: Any) -> None:
    if not (user and user.is_authenticated and user.is_active and user.is_superuser):
        raise PermissionDenied("Only operators (partner success) decide appeals.", code="operators_only")


def operators() -> list[AbstractBaseUser]:
    return list(get_user_model().objects.filter(is_active=True, is_superuser=True))


def tenant_admins(appeal: Appeal) -> list[AbstractBaseUser]:
    tenant_ids = AppealParty.all_tenants.filter(appeal=appeal).values_list("tenant_id", flat=True)
    members = Membership.all_tenants.filter(tenant_id__in=tenant_ids, role=Role.ADMIN, is_active=True)
    return [m.user for m in members.select_related("user") if m.user.is_active]


def appeal_decide(
    *, public_id: str, actor: AbstractBaseUser, outcome: str, reason: str, now: datetime | None = None
) -> Appeal:
    """An operator decides: ``upheld`` (the original decision stands) or ``overturned``, with
    a written reason both tenants see."""
    now = now or timezone.now()
    require_operator(actor)
    if outcome not in (Appeal.Status.UPHELD, Appeal.Status.OVERTURNED):
        raise ValidationFailed(
            "outcome must be upheld or overturned.", code="bad_outcome", details={"field": "outcome"}
        )
    text = _clean_reason(reason, "decision reason")
    with transaction.atomic():
        appeal = Appeal.objects.select_for_update().filter(pk=operator_appeal(public_id).pk).first()
        assert appeal is not None
        if appeal.status != Appeal.Status.OPEN:
            raise Conflict("This appeal is already decided.", code="appeal_decided")
        appeal.status, appeal.decided_at, appeal.decided_by, appeal.decision_reason = outcome, now, actor, text
        appeal.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        _audit_both(
            "pilot.appeal_decided",
            appeal,
            actor,
            outcome=outcome,
            reason_sha256=_digest(text),
            within_sla=now <= appeal.due_at,
        )
        recipients = [appeal.filed_by, *tenant_admins(appeal)]
        _notify(appeal, "decided", recipients, f"Pilot appeal decided: {appeal.get_status_display()}")
    return appeal


def _notify(appeal: Appeal, step: str, recipients: list[AbstractBaseUser], subject: str) -> None:
    """E-mail through the JIT outbox, in the appellant's tenant. The text names the appeal,
    its subject and deadline — not the reason (the page shows it to those who may read it)."""
    appellant = AppealParty.all_tenants.select_related("tenant").get(appeal=appeal, role=AppealParty.Role.APPELLANT)
    text = (
        f"{subject}.\nAppeal {appeal.public_id} ({appeal.get_subject_display()}), filed "
        f"{appeal.created_at:%Y-%m-%d %H:%M} UTC; the SLA ends {appeal.due_at:%Y-%m-%d %H:%M} UTC."
    )
    url = reverse("pilot-operator-appeal", args=[appeal.public_id])
    with tenant_context(appellant.tenant):
        notify.queue_message(
            key=f"appeal:{appeal.public_id}:{step}", recipients=recipients, subject=subject, text=text, url=url
        )


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The beat job (every minute, all tenants at once: appeals are shared): remind operators
    once at ``remind_at``; at ``due_at`` escalate once to operators and both tenants' admins."""
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0}
    for appeal in Appeal.objects.filter(status=Appeal.Status.OPEN, remind_at__lte=now, reminded_at__isnull=True):
        with transaction.atomic():
            if Appeal.objects.filter(pk=appeal.pk, reminded_at__isnull=True).update(reminded_at=now):
                _audit_both("pilot.appeal_reminded", appeal, None, due_at=appeal.due_at.isoformat())
                _notify(appeal, "reminder", operators(), "Reminder: pilot appeal waiting")
                counts["reminded"] += 1
    for appeal in Appeal.objects.filter(status=Appeal.Status.OPEN, due_at__lte=now, escalated_at__isnull=True):
        with transaction.atomic():
            if Appeal.objects.filter(pk=appeal.pk, escalated_at__isnull=True).update(escalated_at=now):
                _audit_both("pilot.appeal_escalated", appeal, None, due_at=appeal.due_at.isoformat(), sla_breached=True)
                recipients = [*operators(), *tenant_admins(appeal)]
                _notify(appeal, "escalation", recipients, "Escalated: pilot appeal past its SLA")
                counts["escalated"] += 1
    return counts


def appeal_view(appeal: Appeal, *, tenant: Tenant | None = None) -> dict[str, Any]:
    """What both tenants (and operators) see of an appeal; the same shape on page and API."""
    parties = {p.role: p.tenant.slug for p in AppealParty.all_tenants.filter(appeal=appeal).select_related("tenant")}
    return {
        "appeal": str(appeal.public_id),
        "subject": appeal.subject,
        "status": appeal.status,
        "appellant": parties.get("appellant"),
        "partner": parties.get("partner"),
        "mine": tenant is not None and parties.get("appellant") == tenant.slug,
        "session": str(appeal.session_id) if appeal.session_id else None,
        "decision_code": appeal.decision_code or None,
        "reason": appeal.reason,
        "filed_by": appeal.filed_by.get_username(),
        "created_at": appeal.created_at.isoformat(),
        "due_at": appeal.due_at.isoformat(),
        "reminded_at": appeal.reminded_at.isoformat() if appeal.reminded_at else None,
        "escalated_at": appeal.escalated_at.isoformat() if appeal.escalated_at else None,
        "decided_at": appeal.decided_at.isoformat() if appeal.decided_at else None,
        "decided_by": appeal.decided_by.get_username() if appeal.decided_by else None,
        "decision_reason": appeal.decision_reason or None,
    }
