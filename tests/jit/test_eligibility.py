"""Who may approve, computed in one query and shared by a burst for a few seconds: the shared
copy only chooses whom to notify, never who may decide; permissions held through a group
count; another tenant's approvers never appear."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.errors import PermissionDenied
from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.jit_approvals import selectors, services
from apps.jit_approvals.models import Notification
from apps.policy_studio.models import SubjectAttributes
from tests.conftest import member


def _request(world: dict[str, Any]) -> Any:
    return services.request_create(
        requester=world["requester"], roles=frozenset({"analyst"}), dataset_slug="calls-demo",
        data_classes=["P0"], purpose="investigation", reason="case 2026-300, eligibility", duration_minutes=30,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_revoked_approver_still_notified_from_the_shared_copy_cannot_decide(jit_world, slack, smtp, settings) -> None:
    settings.JIT_ELIGIBILITY_CACHE_SECONDS = 300  # the shared copy outlives this test, however slow
    with tenant_context(jit_world["tenant"]):
        first = _request(jit_world)
        assert {u.username for u in selectors.eligible_approvers(first)} == {"sup1", "sup2"}
        remove_perm("graphs.approve_access", jit_world["sup2"], jit_world["dataset"])
        # Within the few seconds of the shared copy, a new request still notifies sup2 …
        second = _request(jit_world)
        notified = set(Notification.objects.filter(request=second).values_list("recipient__username", flat=True))
        assert "sup2" in notified
        # … but deciding re-checks, uncached: refused, and audited as such.
        with pytest.raises(PermissionDenied) as refused:
            services.decide(request_id=second.pk, approver=jit_world["sup2"], decision="approve", channel="web")
        assert refused.value.code == "not_eligible"
        assert {u.username for u in selectors.eligible_approvers(second)} == {"sup1"}


@pytest.mark.django_db
def test_a_dataset_permission_held_through_a_group_makes_an_approver(jit_world) -> None:
    tenant = jit_world["tenant"]
    newcomer = member(tenant, "sup3", Role.APPROVER)
    group = Group.objects.create(name="approvers-calls")
    newcomer.groups.add(group)
    with tenant_context(tenant):
        SubjectAttributes.objects.create(user=newcomer, groups=["supervisors"])
        request = _request(jit_world)
        assert "sup3" not in {u.username for u in selectors.eligible_approvers(request)}
        assign_perm("graphs.approve_access", group, jit_world["dataset"])
        assert "sup3" in {u.username for u in selectors.eligible_approvers(request)}
        # Not in the rule's approver groups: not eligible, whatever the permission.
        SubjectAttributes.objects.filter(user=newcomer).update(groups=["analysts"])
        assert "sup3" not in {u.username for u in selectors.eligible_approvers(request)}


@pytest.mark.django_db
def test_the_approver_set_costs_the_same_queries_for_two_or_twenty_approvers(jit_world) -> None:
    tenant = jit_world["tenant"]
    with tenant_context(tenant):
        request = _request(jit_world)
        with CaptureQueriesContext(connection) as few:
            assert len(selectors.eligible_approvers(request)) == 2
        for i in range(18):
            user = member(tenant, f"extra{i}", Role.APPROVER)
            SubjectAttributes.objects.create(user=user, groups=["supervisors"])
            assign_perm("graphs.approve_access", user, jit_world["dataset"])
        with CaptureQueriesContext(connection) as many:
            assert len(selectors.eligible_approvers(request)) == 20
        assert len(many.captured_queries) == len(few.captured_queries) <= 3


@pytest.mark.django_db
def test_another_tenants_approver_is_never_eligible(jit_world, tenant_b) -> None:
    outsider = jit_world["outsider"]  # an approver in tenant B
    with tenant_context(jit_world["tenant"]):
        SubjectAttributes.all_tenants.create(tenant=tenant_b, user=outsider, groups=["supervisors"])
        assign_perm("graphs.approve_access", outsider, jit_world["dataset"])  # even with the permission
        request = _request(jit_world)
        assert outsider.pk not in {u.pk for u in selectors.eligible_approvers(request)}
        assert outsider.pk not in {u.pk for u in selectors.eligible_approvers(request, cached=True)}
