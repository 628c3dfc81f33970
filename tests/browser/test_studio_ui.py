"""A policy author and an analyst, in a real browser: write a policy with live validation,
run an allowed and a denied query, and read why."""

from __future__ import annotations

import pytest

from apps.core.models import Role
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import FIXTURES, load_calls_demo, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


def test_author_writes_a_policy_and_analyst_sees_allow_and_deny(page, tenant_a) -> None:
    author = member(tenant_a, "author", Role.POLICY_AUTHOR, Role.ANALYST)
    load_calls_demo(tenant_a, author, policy=None)

    sign_in(page, "author", PASSWORD)
    page.click("nav >> text=Studio")
    page.click("text=New policy")
    page.fill("#id_slug", "investigations")
    editor = page.locator("#id_source")
    editor.fill("mode: enforce\nrules:\n  - id: a\n    effect: perhaps\n")
    problem = page.locator("#validation .problems li").first
    problem.wait_for()
    assert problem.inner_text().startswith("line 4, column 13") and "perhaps" in problem.inner_text()
    editor.fill((FIXTURES / "policies" / "investigations.yaml").read_text())
    page.wait_for_selector("#validation [data-valid=true]")
    assert "5 minimization rules" in page.inner_text("#validation")
    page.check("#id_activate")
    page.fill("#id_note", "first version")
    page.screenshot(path=str(SCREENSHOTS / "studio-editor.png"), full_page=True)
    page.click("button:has-text('Save new version')")
    page.wait_for_selector("text=Saved version 1 and put it in force")

    page.click("nav >> text=Queries")
    page.select_option("#id_environment", "dev")  # one-click activation reaches dev only (issue 14)
    page.fill(
        "#id_spec",
        '{"dataset": "calls-demo", "seeds": ["grp12-0"], "hops": 2, "metric": "pagerank", "fields": ["city", "age"],'
        ' "purpose": "investigation", "reason": "case 118"}',
    )
    page.click("button:has-text('Run query')")
    page.wait_for_selector("[data-status=allowed]")
    assert "age: bucket" in page.inner_text("main")
    assert page.locator("table.result tbody tr").count() >= 2

    page.click("nav >> text=Queries")
    page.select_option("#id_environment", "dev")  # one-click activation reaches dev only (issue 14)
    page.fill(
        "#id_spec",
        '{"dataset": "calls-demo", "seeds": ["hub-a"], "hops": 1, "metric": "neighbourhood", "purpose": "investigation", "reason": "case 118"}',
    )
    page.click("button:has-text('Run query')")
    page.wait_for_selector("[data-status=denied]")
    explanation = page.inner_text("[data-explanation]")
    # The run's explanation is the subject's: code, limit, "more than the limit" (issue 9).
    assert "linked to more than 25 others" in explanation and "60" not in explanation
    # The author is an overseer: the decision keeps the observed value and the witness.
    violation = page.locator("[data-violation=DEGREE_EXCEEDED]")
    assert violation.count() == 1 and "observed 60" in violation.inner_text() and "hub-a" in violation.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "query-denied.png"), full_page=True)
