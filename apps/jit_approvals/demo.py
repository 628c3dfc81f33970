"""Demo data for JIT: the two demo approvers are supervisors allowed (django-guardian) to
approve access to calls-demo."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.policy_studio.models import PolicyVersion, SubjectAttributes

from .models import AccessGrant, AccessRequest


def seed(tenant: Tenant, prefix: str) -> None:
    User = get_user_model()
    with tenant_context(tenant):
        dataset = Dataset.objects.filter(slug="calls-demo").first()
        if dataset is None:
            return
        for username, groups in ((f"{prefix}-approver", ["supervisors"]), (f"{prefix}-approver2", ["supervisors"])):
            user = User.objects.get(username=username)
            SubjectAttributes.objects.get_or_create(user=user, defaults={"groups": groups})
            assign_perm("graphs.approve_access", user, dataset)


def approved_grant(user: Any, *, dataset: str, rule_id: str, data_classes: list[str], purpose: str, reason: str) -> int:
    """An approved request and its active grant, as the JIT flow would have left them (for the
    red-team corpus; registered as the queries grant issuer)."""
    now = timezone.now()
    found = Dataset.objects.get(slug=dataset)
    request = AccessRequest.objects.create(
        requester=user,
        policy_version=PolicyVersion.objects.order_by("pk").first(),
        rule_id=rule_id,
        dataset=found,
        data_classes=data_classes,
        purpose=purpose,
        reason=reason,
        reason_sha256=hashlib.sha256(reason.encode()).hexdigest(),
        duration_minutes=60,
        approvals_required=2,
        status=AccessRequest.Status.APPROVED,
        remind_at=now,
        escalate_at=now,
        deadline_at=now,
        decided_at=now,
    )
    return AccessGrant.objects.create(
        request=request,
        user=user,
        rule_id=rule_id,
        dataset=found,
        data_classes=data_classes,
        purpose=purpose,
        reason_sha256=request.reason_sha256,
        starts_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(hours=1),
    ).pk
