"""The Django admin is for operators only, and every write through it is audited."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import AuditEvent, Membership, Role
from apps.core.tenancy import tenant_context
from apps.zk_proofs.models import PilotSettings
from tests.conftest import member


@pytest.fixture
def operator(tenant_a):
    user = member(tenant_a, "operator", Role.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def _events(tenant, action: str) -> list[AuditEvent]:
    return list(AuditEvent.all_tenants.filter(tenant=tenant, action=action))


PILOT_FORM = {
    "enabled": "on",
    "partners": '["agency-b"]',
    "selector_types": '["phone"]',
    "disclosure_modes": '["cardinality"]',
    "min_set_size": "100",
    "k_floor": "5",
    "sessions_per_pair_per_day": "10",
    "default_region": "GB",
    "count_min_k": "50",
    "count_releases_per_pair_per_day": "1",
    "requests_per_second": "50",
    "requests_burst": "100",
    "pair_requests_per_second": "20",
    "sessions_per_day": "100",
    "proofs_per_day": "100000",
    "updated_at_0": "2026-12-01",
    "updated_at_1": "12:00:00",
}


def test_admin_writes_of_pilot_settings_are_audited(tenant_a, operator) -> None:
    web = Client()
    web.force_login(operator)
    added = web.post("/admin/zk_proofs/pilotsettings/add/", PILOT_FORM)
    assert added.status_code == 302, added.content[:2000]
    with tenant_context(tenant_a):
        settings_row = PilotSettings.objects.get()
    [event] = _events(tenant_a, "admin.added")
    assert event.actor_id == operator.pk and event.target_id == str(settings_row.pk)
    assert event.payload["model"] == "zk_proofs.pilotsettings"
    changed = web.post(
        f"/admin/zk_proofs/pilotsettings/{settings_row.pk}/change/", {**PILOT_FORM, "opted_out": "on", "k_floor": "9"}
    )
    assert changed.status_code == 302
    [event] = _events(tenant_a, "admin.changed")
    assert set(event.payload["fields"]) >= {"opted_out", "k_floor"}
    deleted = web.post(f"/admin/zk_proofs/pilotsettings/{settings_row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert _events(tenant_a, "admin.deleted")


def test_admin_membership_changes_are_audited(tenant_a, operator, analyst_a) -> None:
    web = Client()
    web.force_login(operator)
    with tenant_context(tenant_a):
        row = Membership.objects.get(user=analyst_a)
    response = web.post(
        f"/admin/core/membership/{row.pk}/change/", {"user": analyst_a.pk, "role": Role.AUDITOR, "is_active": "on"}
    )
    assert response.status_code == 302
    [event] = _events(tenant_a, "admin.changed")
    assert event.payload["fields"] == ["role"] and event.target_type == "core.membership"


def test_a_tenant_admin_flagged_staff_cannot_use_the_django_admin(tenant_a, admin_a) -> None:
    admin_a.is_staff = True
    admin_a.save()
    web = Client()
    web.force_login(admin_a)
    assert web.get("/admin/").status_code == 302  # to the admin login: operators only
    assert web.get("/admin/core/tenant/").status_code == 302


def test_demo_tenant_admins_are_not_staff(db) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("seed_demo", "--quiet")
    staff = set(get_user_model().objects.filter(is_staff=True).values_list("username", flat=True))
    assert staff == {"admin"}
