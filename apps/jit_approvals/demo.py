"""Demo data for JIT: the two demo approvers are supervisors allowed (django-guardian) to
approve access to calls-demo."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm

from apps.core.models import Tenant
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.policy_studio.models import SubjectAttributes


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
