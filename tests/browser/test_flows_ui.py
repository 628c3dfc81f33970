"""The flows across apps in Chromium, through links only (after signing in), at desktop and
phone widths: an analyst is denied and requests access; two approvers approve from the inbox
(the second is told access is active); the analyst runs the old query again under the grant
from its page; an auditor gets from the query to its approvals in three clicks, and switching
tenant there lands on the overview with a sentence. No page logs a console error, none is
wider than the screen, and navigation, tenant switcher and sign-out stay reachable."""

from __future__ import annotations

import pytest

from apps.core.models import Role
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
NAMES = '{"dataset": "calls-demo", "seeds": ["grp12-0"], "hops": 1, "metric": "degree", "fields": ["name", "city"], "purpose": "investigation", "reason": "case 118"}'


class Person:
    """One signed-in browser context that records console errors and checks every page."""

    def __init__(self, browser, live_server, width: int, username: str) -> None:
        self.width = width
        self.context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": 844 if width < 500 else 900}
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        sign_in(self.page, username, PASSWORD)
        self.page.wait_for_selector("nav.mainnav")
        self.check()

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.page.wait_for_load_state()
        self.check()

    def check(self) -> None:
        page = self.page
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= self.width, f"{page.url} is {wide}px wide on a {self.width}px screen"
        for selector in ("nav.mainnav a >> nth=0", "nav.mainnav a >> nth=-1", "button:has-text('Sign out')"):
            box = page.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= self.width, (page.url, selector)
        assert not self.errors, self.errors

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


@pytest.mark.parametrize("width", [1400, 390])
def test_analyst_approver_analyst_auditor_through_links(browser, live_server, jit_world, tenant_b, smtp, width) -> None:
    MembershipFactory(tenant=tenant_b, user=jit_world["admin"], role=Role.ANALYST)

    analyst = Person(browser, live_server, width, "requester")
    analyst.click("nav.mainnav >> text=Queries")
    analyst.page.fill("#id_spec", NAMES)
    analyst.click("button:has-text('Run query')")
    analyst.page.wait_for_selector("[data-status=denied]")
    query_path = analyst.page.url.split(live_server.url, 1)[1]
    analyst.click("[data-request-access]")
    reveals = analyst.page.inner_text("[data-reveals]")
    assert "name: still hashed" in reveals and "Not revealed" in reveals
    analyst.page.fill("#id_reason", "Case 118: identify the organiser of the ring")
    analyst.click("button:has-text('Send request')")
    analyst.page.wait_for_selector("[data-request-status=pending]")

    for name, expected in (("sup1", "1 of 2 approvals"), ("sup2", "Access is now active for requester")):
        approver = Person(browser, live_server, width, name)
        approver.click("nav.mainnav >> text=Access")
        item = approver.page.locator("[data-inbox-request]").first
        assert item.locator("a[data-link=query]").get_attribute("href") == query_path
        assert "of 2 approvals" in item.inner_text()
        item.locator("textarea").fill(f"{name}: scope matches case 118")
        item.locator("[data-approve]").click()
        approver.page.wait_for_load_state()
        approver.check()
        assert expected in approver.page.inner_text(".messages")
        approver.close()
    assert [m for m in smtp.to(jit_world["requester"].email) if "Approved" in m["Subject"]]

    analyst.click("nav.mainnav >> text=Access")
    analyst.click("table a[href^='/jit/requests/']")
    analyst.page.wait_for_selector("[data-request-status=approved]")
    assert "Access is active until" in analyst.page.inner_text("[data-grant-state]")
    assert analyst.page.locator("[data-approval-comment]").count() == 2
    analyst.click(f"a[href='{query_path}']")
    assert analyst.page.locator("[data-request-access]").count() == 0  # covered by the grant now
    analyst.click("[data-run-again] button")
    analyst.page.wait_for_selector("[data-status=allowed]")
    assert "Ran under just-in-time grant" in analyst.page.inner_text("main")
    analyst.page.screenshot(path=str(SCREENSHOTS / f"flows-rerun-{width}.png"), full_page=True)
    analyst.close()

    auditor = Person(browser, live_server, width, "jit-admin")
    clicks = 0
    for selector in ("nav.mainnav >> text=Queries", f"table a[href='{query_path}']", "a[data-link=request]"):
        auditor.click(selector)
        clicks += 1
    assert clicks <= 3
    assert auditor.page.locator("[data-approval]").count() == 2 and "2 of 2 approvals" in auditor.page.inner_text(
        "main"
    )
    auditor.page.screenshot(path=str(SCREENSHOTS / f"flows-auditor-{width}.png"), full_page=True)
    # The grant's audit trail links to its events, whose targets are named and linked back.
    auditor.click("ol.events a >> nth=-1")
    assert auditor.page.locator("[data-audit-target]").first.inner_text().startswith(("Access request #", "Grant #"))
    auditor.click("a[data-audit-target] >> nth=0")
    auditor.page.wait_for_selector("[data-request-status=approved]")
    # Switching tenant here (analyst in Agency B cannot see requests of Agency A): the overview.
    auditor.page.select_option("#tenant-select", "agency-b")
    auditor.page.wait_for_url(f"{live_server.url}/")
    auditor.check()
    assert "Here is its overview." in auditor.page.inner_text(".messages")
    auditor.close()
