"""Tenant admins grant what makes someone an eligible approver and set policy attributes
from the People page: audited, and confined to their own tenant."""

from __future__ import annotations

import pytest
from django.test import Client
from guardian.shortcuts import get_users_with_perms

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.graphs.models import Dataset
from apps.policy_studio.models import SubjectAttributes
from tests.conftest import load_calls_demo, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a, tenant_b, admin_a, admin_b):
    load_calls_demo(tenant_a, admin_a, policy=None)
    load_calls_demo(tenant_b, admin_b, policy=None)
    web = Client()
    web.force_login(admin_a)
    return {
        "web": web,
        "sup": member(tenant_a, "sup-a", Role.APPROVER),
        "other": member(tenant_b, "sup-b", Role.APPROVER),
    }


def _post(web, **data):
    return web.post("/people/", data)


def _approvers(tenant) -> set[str]:
    with tenant_context(tenant):
        ds = Dataset.objects.get(slug="calls-demo")
        return {
            u.username for u in get_users_with_perms(ds, only_with_perms_in=["approve_access"], with_group_users=True)
        }


def _actions(tenant) -> list[str]:
    return list(AuditEvent.all_tenants.filter(tenant=tenant).values_list("action", flat=True))


def test_granting_approval_to_a_member_directly_and_through_a_group(world, tenant_a) -> None:
    web = world["web"]
    assert _post(web, form="approver", dataset="calls-demo", username="sup-a", granted="1").status_code == 302
    assert "sup-a" in _approvers(tenant_a)
    assert _post(web, form="approver", dataset="calls-demo", username="sup-a", granted="0").status_code == 302
    assert "sup-a" not in _approvers(tenant_a)
    assert _post(web, form="group", group="duty", username="sup-a", is_member="1").status_code == 302
    assert _post(web, form="approver", dataset="calls-demo", group="duty", granted="1").status_code == 302
    assert "sup-a" in _approvers(tenant_a)
    page = web.get("/people/").content.decode()
    assert "duty" in page and "sup-a" in page
    actions = _actions(tenant_a)
    assert actions.count("dataset.approver_granted") == 2 and "dataset.approver_withdrawn" in actions
    assert "group.member_added" in actions


def test_setting_policy_attributes_is_audited_with_before_and_after(world, tenant_a) -> None:
    response = _post(world["web"], form="attributes", username="sup-a", groups="supervisors, duty", clearance="3")
    assert response.status_code == 302
    with tenant_context(tenant_a):
        row = SubjectAttributes.objects.get(user=world["sup"])
    assert row.groups == ["duty", "supervisors"] and row.clearance == 3
    event = AuditEvent.all_tenants.get(tenant=tenant_a, action="subject.attributes_set")
    assert event.payload["before"] == {"groups": [], "clearance": 0}
    assert event.payload["after"]["clearance"] == 3
    bad = _post(world["web"], form="attributes", username="sup-a", groups="Not Valid", clearance="3")
    assert bad.status_code == 400


def test_another_tenants_members_datasets_and_groups_are_not_found(world, tenant_a, tenant_b, admin_b) -> None:
    web = world["web"]
    assert _post(web, form="attributes", username="sup-b", groups="", clearance="9").status_code == 404
    assert _post(web, form="approver", dataset="calls-demo", username="sup-b", granted="1").status_code == 404
    assert _post(web, form="group", group="duty", username="sup-b", is_member="1").status_code == 404
    # B's own group of the same name is a different group: A's grant does not reach B's members.
    b_web = Client()
    b_web.force_login(admin_b)
    assert _post(b_web, form="group", group="duty", username="sup-b", is_member="1").status_code == 302
    assert _post(web, form="group", group="duty", username="sup-a", is_member="1").status_code == 302
    assert _post(web, form="approver", dataset="calls-demo", group="duty", granted="1").status_code == 302
    assert "sup-b" not in _approvers(tenant_a) and "sup-a" not in _approvers(tenant_b)
    assert "sup-b" not in web.get("/people/").content.decode()
    assert not [a for a in _actions(tenant_b) if a.startswith(("dataset.approver", "subject."))]


@pytest.mark.parametrize("role", [Role.APPROVER, Role.AUDITOR, Role.POLICY_AUTHOR, Role.ANALYST])
def test_only_tenant_admins_use_the_people_page(world, tenant_a, role) -> None:
    web = Client()
    web.force_login(member(tenant_a, f"not-admin-{role}", role))
    assert web.get("/people/").status_code == 403
    assert _post(web, form="approver", dataset="calls-demo", username="sup-a", granted="1").status_code == 403
    assert "sup-a" not in _approvers(tenant_a)
