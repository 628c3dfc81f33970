from __future__ import annotations

import pytest

from apps.core.models import Role
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import member
from tests.factories import audit_event_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def test_sign_in_switch_tenant_and_see_only_that_tenants_data(page, tenant_a, tenant_b) -> None:
    member(tenant_a, "dual", Role.ANALYST, Role.AUDITOR)
    member(tenant_b, "dual", Role.AUDITOR)
    member(tenant_a, "alice-in-a", Role.APPROVER)
    member(tenant_b, "bob-in-b", Role.APPROVER)
    audit_event_in(tenant_b, "policy.promoted", reason="only B did this")

    page.goto("/")
    assert page.url.endswith("/login/?next=/")
    sign_in(page, "dual", "wrong password")
    assert page.get_by_role("alert").inner_text().startswith("Please enter a correct username")
    sign_in(page, "dual", PASSWORD)
    page.wait_for_selector("h1:has-text('Agency A')")
    body = page.inner_text("main")
    assert "alice-in-a" in body and "bob-in-b" not in body
    page.screenshot(path=str(SCREENSHOTS / "home-agency-a.png"), full_page=True)

    # The switcher submits on change (JavaScript), no button press needed.
    page.select_option("#tenant-select", "agency-b")
    page.wait_for_selector("h1:has-text('Agency B')")
    body = page.inner_text("main")
    assert "bob-in-b" in body and "alice-in-a" not in body

    page.click("nav >> text=Audit log")
    page.wait_for_selector("table.audit")
    assert "only B did this" in page.inner_text("table.audit")
    page.fill("input[name=action]", "membership")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert "only B did this" not in page.inner_text("table.audit")
    page.click("text=Verify chain now")
    page.wait_for_selector("[data-chain-status].ok")
    page.screenshot(path=str(SCREENSHOTS / "audit-agency-b.png"), full_page=True)

    page.click("text=Sign out")
    page.wait_for_selector("h1:has-text('Sign in')")
