"""The policy editor in Chromium: a lint finding appears next to its line as you type and goes
when fixed; history hints sit next to their rule; Esc leaves the editor; an identical save is
refused; the diff page between two versions; starting a draft from a template."""

from __future__ import annotations

import pytest

from apps.core.models import Role
from apps.core.tenancy import tenant_context
from apps.queries.pipeline import query_run_execute
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.conftest import POLICY_SOURCE, demo_query, load_calls_demo, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"

DENY_WITHOUT_DESCRIPTION = """mode: enforce
rules:
  - id: analysts
    effect: allow
    when: {role: [analyst], purpose: [investigation], data_class: [P2, P3]}
  - id: no-partners
    effect: deny
    when: {role: [partner]}
"""


def note(page, line: int):
    return page.locator(f"#notes [data-line='{line}']")


def test_author_lints_as_they_type_and_uses_diff_and_templates(page, tenant_a) -> None:
    author = member(tenant_a, "author", Role.POLICY_AUTHOR)
    analyst = member(tenant_a, "analyst", Role.ANALYST)
    load_calls_demo(tenant_a, author)
    with tenant_context(tenant_a):
        for seed in ("grp20-1", "com-010", "hub-a"):
            query_run_execute(
                actor=analyst,
                roles=frozenset({"analyst"}),
                spec=demo_query(seeds=[seed], hops=1, metric="neighbourhood", fields=["city"]),
            )

    sign_in(page, "author", PASSWORD)
    page.goto("/studio/investigations/")
    # History hints next to their rule (line 5 is "- id: analysts-investigate").
    page.wait_for_selector("#notes [data-line='5'].hint")
    assert "allowed 67% of last week's investigation queries" in note(page, 5).get_attribute("title")
    assert page.locator("#gutter [data-line='5']").inner_text() == "5"  # line numbers

    # A lint problem appears at its line, and goes when fixed.
    editor = page.locator("#id_source")
    editor.fill(DENY_WITHOUT_DESCRIPTION)
    page.wait_for_selector("#notes [data-line='6'].finding")
    assert "LAC104" in note(page, 6).inner_text()
    assert page.locator("#gutter [data-line='6']").get_attribute("class").startswith("mark finding")
    finding = page.locator("#findings li.finding")
    assert finding.count() == 1 and finding.inner_text().startswith("line 6, column 5 · LAC104")
    page.screenshot(path=str(SCREENSHOTS / "editor-lint.png"), full_page=True)
    finding.click()  # jumps to the line: the selection is line 6
    selected = page.evaluate(
        "(() => { const s = document.getElementById('id_source'); return s.value.slice(s.selectionStart, s.selectionEnd); })()"
    )
    assert selected == "  - id: no-partners"
    editor.fill(DENY_WITHOUT_DESCRIPTION.replace("effect: deny\n", "effect: deny\n    description: Partners never.\n"))
    page.wait_for_selector("#findings li.finding", state="detached")
    assert "LAC104" not in page.inner_text("#notes")

    # Tab indents inside the editor; Esc leaves it, to the next field (and the editor says so).
    assert "Esc leaves the editor" in page.inner_text(f"#{editor.get_attribute('aria-describedby')}")
    editor.click()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_source"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "id_note"

    # Saving the latest version's source again is refused, and nothing is saved.
    editor.fill(POLICY_SOURCE)
    page.click("button:has-text('Save new version')")
    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert "identical to version 1" in alert.inner_text()
    assert page.locator("ul.versions > li").count() == 1

    # A real change saves v2; the diff page shows it rule by rule and as text.
    page.locator("#id_source").fill(POLICY_SOURCE.replace("max_degree: 25", "max_degree: 30"))
    page.fill("#id_note", "looser degree cap")
    page.click("button:has-text('Save new version')")
    page.wait_for_selector("text=Saved version 2")
    page.click("#compare-versions")
    page.wait_for_selector("#rule-diff")
    row = page.locator("#rule-diff tr[data-item='graph-shape']")
    assert row.get_attribute("data-kind") == "changed" and "25" in row.inner_text() and "30" in row.inner_text()
    assert "max_degree: 30" in page.inner_text("#text-diff td.ins")
    page.screenshot(path=str(SCREENSHOTS / "policy-diff.png"), full_page=True)

    # Start a draft from a template, linked from the editor; it opens lint-clean.
    page.goto("/studio/investigations/")
    page.click("#template-link")
    card = page.locator("#template-partner-access")
    card.locator("input[name=slug]").fill("partners")
    card.locator("button:has-text('Start from template')").click()
    page.wait_for_selector("text=Draft “partners” created from the Partner access template")
    assert "nothing (draft)" in page.inner_text("main")
    page.wait_for_selector("#validation [data-valid=true]")
    assert page.locator("#findings li.finding").count() == 0
