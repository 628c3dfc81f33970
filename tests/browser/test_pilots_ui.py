"""The appeal flow in a real browser: tenant A appeals a refusal it really got, tenant B (the
partner) sees it, the SLA reminder and escalation are driven by the test clock and show on
every page, the operator decides with a written reason, and both tenants read the decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.pilots import appeals
from apps.pilots.models import Appeal
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
REASON = "The MOU annex sets our k floor at 3 for this partner"


def test_appeal_filed_seen_reminded_escalated_and_decided_in_the_browser(browser, live_server, zk_pair, smtp) -> None:
    operator = UserFactory(username="ps-operator", is_superuser=True, is_staff=True)
    refused = zk_pair["api_a"].post(
        "/api/zk/sessions/", {"partner": "agency-b", "k": 1, "selector_type": "phone"}, format="json"
    )
    assert refused.json()["code"] == "k_floor"

    def session(username: str):
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, username, PASSWORD)
        return context, page

    ctx_a, a = session("partner-a")
    a.goto("/pilots/")
    a.select_option("#id_subject", "refusal")
    a.fill("#id_decision_code", "k_floor")
    a.fill("#id_partner", "agency-b")
    a.fill("#id_reason", REASON)
    a.click("button:has-text('File appeal')")
    a.wait_for_selector("[data-appeal-status=open]")
    assert "partner success has it in their queue" in a.inner_text("main")
    appeal_path = a.url.split(live_server.url, 1)[1]
    appeal = Appeal.objects.get()
    assert [m["Subject"] for m in smtp.to("ps-operator@example.test")] == [
        "[Trust Fabric] New pilot appeal from agency-a: A refusal"
    ]

    ctx_b, b = session("partner-b")
    b.goto("/pilots/")
    b.click(f"[data-appeal='{appeal.public_id}'] a")
    assert REASON in b.inner_text("[data-reason]") and b.inner_text("[data-escalated]") == "no"

    # the test clock: half the SLA gone, then all of it
    appeals.sweep(now=appeal.created_at + timedelta(hours=12))
    ctx_o, o = session("ps-operator")
    o.goto("/pilots/operator/")
    o.wait_for_selector(f"[data-appeal='{appeal.public_id}'] [data-reminded]")
    assert any("Reminder" in m["Subject"] for m in smtp.to("ps-operator@example.test"))
    appeals.sweep(now=appeal.created_at + timedelta(hours=24, minutes=1))
    b.reload()
    assert "past the SLA, escalated" in b.inner_text("[data-escalated]")
    assert any("Escalated" in m["Subject"] for m in smtp.to("zk-admin-b@example.test"))

    o.reload()
    o.click(f"[data-appeal='{appeal.public_id}'] a")
    o.select_option("#id_outcome", "overturned")
    o.fill("#id_decision_reason", "The annex allows k = 3; both pilots' floors are corrected")
    o.click("button:has-text('Record decision')")
    o.wait_for_selector("text=Decision recorded; both tenants see it.")
    assert o.locator("[data-decide-form]").count() == 0  # decided once
    o.screenshot(path=str(SCREENSHOTS / "pilot-appeal-decided.png"), full_page=True)

    for page in (a, b):
        page.goto(appeal_path)
        assert page.inner_text("[data-status]") == "overturned"
        assert "both pilots' floors are corrected" in page.inner_text("[data-decision]")
        assert "ps-operator" in page.inner_text("[data-decision]")
    # a partner cannot open the operators' queue
    a.goto(f"/pilots/operator/{appeal.public_id}/")
    assert a.locator("[data-decide-form]").count() == 0
    for ctx in (ctx_a, ctx_b, ctx_o):
        ctx.close()
    assert operator.is_superuser


def test_both_admins_sign_the_mou_on_the_pilot_page(browser, live_server, zk_pair) -> None:
    from apps.core.tenancy import tenant_context
    from apps.zk_proofs.models import PilotAgreement

    for tenant in (zk_pair["ta"], zk_pair["tb"]):
        with tenant_context(tenant):
            PilotAgreement.objects.all().delete()
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "zk-admin-a", PASSWORD)
    page.goto("/pilots/")
    page.click("[data-pilot-link]")
    assert page.inner_text("[data-agreement]") == "no"
    page.select_option("[data-document-form] select[name=kind]", "mou")
    page.fill("[data-document-form] input[name=title]", "Deconfliction pilot, phase 1")
    page.fill("[data-document-form] textarea[name=scope]", "Phone selectors, verdict only")
    page.fill("[data-document-form] input[name=starts_on]", "2026-01-01")
    page.fill("[data-document-form] input[name=ends_on]", "2099-12-31")
    page.click("[data-document-form] button")
    page.wait_for_selector("[data-kind=mou][data-signed=no]")
    page.fill("[data-sign-form] input[name=signatory_title]", "Head of Legal")
    page.click("[data-sign-form] button")
    page.wait_for_selector("text=Signed for your tenant.")
    assert page.locator("[data-sign-form]").count() == 0
    context.close()

    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "zk-admin-b", PASSWORD)
    page.goto(f"/pilots/partners/{zk_pair['ta'].slug}/")
    assert "Head of Legal (zk-admin-a)" in page.inner_text("[data-kind=mou]")
    page.fill("[data-sign-form] input[name=signatory_title]", "CISO")
    page.click("[data-sign-form] button")
    page.wait_for_selector("[data-kind=mou][data-signed=yes]")
    assert page.inner_text("[data-agreement]") == "yes"
    page.screenshot(path=str(SCREENSHOTS / "pilot-page-mou-signed.png"), full_page=True)
    context.close()
