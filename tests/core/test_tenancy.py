from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models

from apps.core.models import AuditEvent, Membership, Role, Tenant
from apps.core.selectors import objects_for_user
from apps.core.tenancy import TenantNotSet, TenantScopedManager, get_current_tenant, tenant_context, tenant_task
from tests.conftest import member
from tests.factories import MembershipFactory


def _tenant_owned_models() -> list[type[models.Model]]:
    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.ForeignKey) and field.related_model is Tenant:
                found.append(model)
                break
    return found


def test_every_model_with_a_tenant_key_uses_the_scoped_manager() -> None:
    owned = _tenant_owned_models()
    assert Membership in owned and AuditEvent in owned  # the walk really finds models
    offenders = [
        m._meta.label
        for m in owned
        if not isinstance(m._default_manager, TenantScopedManager) or not hasattr(m, "all_tenants")
    ]
    assert offenders == [], f"tenant-owned models without the scoped default manager: {offenders}"


def test_scoped_manager_fails_closed_without_tenant(tenant_a) -> None:
    MembershipFactory(tenant=tenant_a)
    with pytest.raises(TenantNotSet):
        list(Membership.objects.all())


def test_scoped_manager_returns_only_the_current_tenants_rows(tenant_a, tenant_b) -> None:
    mine = MembershipFactory(tenant=tenant_a)
    MembershipFactory(tenant=tenant_b)
    with tenant_context(tenant_a):
        assert list(Membership.objects.all()) == [mine]
    with tenant_context(tenant_b):
        assert not Membership.objects.filter(pk=mine.pk).exists()
    assert get_current_tenant() is None  # the context manager restores


def test_new_rows_take_the_current_tenant(tenant_a, tenant_b) -> None:
    user = member(tenant_b, "someone")
    with tenant_context(tenant_a):
        created = Membership.objects.create(user=user, role=Role.AUDITOR)
    assert created.tenant == tenant_a


def test_tenant_task_runs_inside_the_tenant_and_skips_vanished_tenants(tenant_a) -> None:
    seen = []

    @tenant_task
    def body(tenant_id: int) -> str:
        seen.append(get_current_tenant())
        return "ran"

    assert body(tenant_a.pk) == "ran"
    assert seen == [tenant_a]
    assert body(999_999) is None
    tenant_a.is_active = False
    tenant_a.save()
    assert body(tenant_a.pk) is None


def test_guardian_object_permissions_filter_within_the_tenant(tenant_a, tenant_b) -> None:
    from guardian.shortcuts import assign_perm

    viewer = member(tenant_a, "viewer", Role.ANALYST)
    visible = MembershipFactory(tenant=tenant_a, role=Role.AUDITOR)
    MembershipFactory(tenant=tenant_a, role=Role.APPROVER)
    foreign = MembershipFactory(tenant=tenant_b, role=Role.AUDITOR)
    assign_perm("core.view_membership", viewer, visible)
    assign_perm("core.view_membership", viewer, foreign)  # a stray grant across tenants
    with tenant_context(tenant_a):
        result = list(objects_for_user(viewer, "core.view_membership", Membership.objects.all()))
    assert result == [visible]
