"""The Studio lifecycle in Chromium, as two authors (issue 14, acceptance 1): a draft in dev →
promotion to stage with all gates green → promotion to prod approved by the second author → a
prod hotfix is detected as drift → the formatting-only drift is auto-merged → a failing
promotion shows its root cause and the suggested fix turns it green → rollback."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.policy_studio import environments as envs
from apps.policy_studio.models import Policy
from apps.policy_studio.services import policy_activate, policy_save_version
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import POLICY_SOURCE, load_calls_demo, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
TESTS = (
    "tests:\n  - {id: analyst-investigates, subject: {role: [analyst]}, resource: {data_class: [P2]},"
    " purpose: investigation, expect: allow}\n"
)
HASH_NAMES = "  - {id: hash-names, transform: hash, applies_to: {data_class: [P1]}}\n"


def promote(page, version: int, target: str) -> None:
    page.goto("/studio/lifecycle/")
    form = page.locator("tr[data-policy=investigations] form.promote-form")
    form.locator("input[name=version]").fill(str(version))
    form.locator("select[name=target]").select_option(target)
    form.locator("button:has-text('Promote')").click()
    page.wait_for_selector("#job-status[data-status=done]")


def gates_green(page) -> bool:
    return page.locator(".gate[data-ok=false]").count() == 0 and page.locator(".gate[data-ok=true]").count() == 5


def test_two_authors_take_a_policy_from_dev_to_prod_and_back(page, browser, live_server, tenant_a, settings) -> None:
    settings.TF_STUDIO_SOAK_SECONDS = 1  # the auto-merge waits one second for objections
    alice = member(tenant_a, "alice", Role.POLICY_AUTHOR, Role.ANALYST)
    bob = member(tenant_a, "bob", Role.POLICY_AUTHOR, Role.ANALYST)
    load_calls_demo(tenant_a, alice)
    with tenant_context(tenant_a):
        policy = Policy.objects.get(slug="investigations")
        with transaction.atomic():  # register() joins the caller's transaction, as in the migration
            for name in envs.names():
                envs.register(
                    policy=policy, environment=name, version=policy.active_version, kind="migration", actor=None
                )

    # 1. Alice drafts v2 (with its own tests) and puts it in force in dev.
    sign_in(page, "alice", PASSWORD)
    page.goto("/studio/investigations/")
    page.fill("#id_source", POLICY_SOURCE + TESTS)
    page.check("#id_activate")
    page.fill("#id_note", "add the policy's own tests")
    page.click("button:has-text('Save new version')")
    page.wait_for_selector("text=Saved version 2 and put it in force in dev")

    # 2. To stage: every gate green, applied by Alice.
    promote(page, 2, "stage")
    assert gates_green(page), page.inner_text("#gates")
    assert "1/1 cases pass" in page.inner_text(".gate[data-gate=tests]")
    page.click("#apply")
    page.wait_for_selector("#applied")

    # 3. To prod: Alice cannot approve her own promotion; Bob approves and it applies.
    promote(page, 2, "prod")
    assert gates_green(page)
    assert page.locator("#needs-second-author").is_visible() and page.locator("#approve").count() == 0
    prod_url = page.url
    page.screenshot(path=str(SCREENSHOTS / "studio-promotion.png"), full_page=True)
    bob_context = browser.new_context(base_url=live_server.url)
    bob_page = bob_context.new_page()
    bob_page.set_default_timeout(15_000)
    sign_in(bob_page, "bob", PASSWORD)
    bob_page.goto(prod_url)
    bob_page.click("#approve")
    bob_page.wait_for_selector("#applied")
    assert "approved by bob" in bob_page.inner_text("main")
    bob_page.goto("/studio/lifecycle/")
    assert bob_page.get_attribute("tr[data-policy=investigations] td[data-env=prod]", "data-running") == "2"

    # 4. An operator hotfixes prod directly (a reformatted copy): drift, low risk, auto-merged.
    with tenant_context(tenant_a):
        v3 = policy_save_version(actor=bob, slug="investigations", source="# hotfix\n" + POLICY_SOURCE + TESTS)
        policy_activate(actor=bob, slug="investigations", number=v3.number)
    bob_page.goto("/studio/lifecycle/")
    assert bob_page.locator("tr[data-policy=investigations] td[data-env=prod] .pill.deny").count() == 1
    bob_page.click("#drift-check")
    drift = bob_page.locator("#drift tr[data-drift=hotfix]")
    drift.wait_for()
    assert drift.get_attribute("data-risk") == "low" and "activated directly" in drift.inner_text()
    assert drift.get_attribute("data-status") == "merging"
    bob_page.wait_for_timeout(1100)  # past the soak time, nobody objected
    bob_page.click("#drift-check")
    bob_page.wait_for_selector("#resolved-drift li[data-resolution=auto_merged]")
    assert bob_page.inner_text("[data-metric=low-risk-cleared]") == "1/1"
    bob_page.screenshot(path=str(SCREENSHOTS / "studio-lifecycle.png"), full_page=True)

    # 5. Alice drops the name-hashing rule: the promotion fails and says why; the fix is green.
    with tenant_context(tenant_a):
        v4 = policy_save_version(
            actor=alice, slug="investigations", source=(POLICY_SOURCE + TESTS).replace(HASH_NAMES, ""),
            activate=True, environment="dev",
        )  # fmt: skip
    promote(page, v4.number, "stage")
    assert page.get_attribute("#promotion-status", "data-status") == "failed"
    insight = page.locator("[data-insight=coverage]")
    assert "falls from 100.0% to 0.0%" in insight.locator(".cause").inner_text()
    assert insight.locator(".suggestion").inner_text() == "Add a `hash` rule for the P1 attribute `name`."
    page.screenshot(path=str(SCREENSHOTS / "studio-insight.png"), full_page=True)
    page.click("[data-fix=coverage]")
    page.wait_for_selector("#job-status[data-status=done]")
    assert gates_green(page), page.inner_text("#gates")
    assert page.get_attribute("#promotion-status", "data-status") == "ready"

    # 6. Bob rolls prod back to the previous version (v2) with one click.
    bob_page.goto("/studio/lifecycle/")
    bob_page.click("[data-rollback=investigations]")
    bob_page.wait_for_selector("text=Rolled investigations back in prod")
    assert bob_page.get_attribute("tr[data-policy=investigations] td[data-env=prod]", "data-running") == "2"
    assert bob_page.inner_text("[data-metric=revert-rate]") != "—"
    bob_context.close()
