"""The approval flow in a real browser: an analyst is denied and requests access; one
supervisor approves from the inbox, the other from the e-mail link's confirmation page;
the analyst's query then runs."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import SCREENSHOTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"
NAMES = '{"dataset": "calls-demo", "seeds": ["grp12-0"], "hops": 1, "metric": "degree", "fields": ["name", "city"], "purpose": "investigation", "reason": "case 118"}'


def test_request_and_approve_in_the_browser(browser, live_server, jit_world, smtp) -> None:
    def session():
        context = browser.new_context(base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return context, page

    ctx, analyst = session()
    sign_in(analyst, "requester", PASSWORD)
    analyst.click("nav >> text=Queries")
    analyst.fill("#id_spec", NAMES)
    analyst.click("button:has-text('Run query')")
    analyst.wait_for_selector("[data-status=denied]")
    assert "just-in-time approval" in analyst.inner_text("[data-explanation]")
    analyst.click("[data-request-access]")
    analyst.fill("#id_reason", "Case 118: identify the organiser of the ring")
    analyst.click("button:has-text('Send request')")
    analyst.wait_for_selector("[data-request-status=pending]")
    request_path = analyst.url.split(live_server.url, 1)[1]

    ctx1, sup1 = session()
    sign_in(sup1, "sup1", PASSWORD)
    sup1.goto("/jit/inbox/")
    sup1.click("[data-approve]")
    sup1.wait_for_selector("text=You approved request")
    ctx1.close()

    [mail] = [m for m in smtp.to("sup2@example.test") if "Approval request" in m["Subject"]]
    link = re.search(r"Approve:\s+(\S+)", mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    ctx2, sup2 = session()
    sup2.goto(link.split("127.0.0.1:8000", 1)[1])
    assert "Nothing happens until you press the button" in sup2.inner_text("main")
    sup2.click("[data-confirm]")
    sup2.wait_for_selector("[data-email-done]")
    ctx2.close()

    analyst.goto(request_path)
    analyst.wait_for_selector("[data-request-status=approved]")
    assert analyst.locator("[data-approval]").count() == 2
    analyst.screenshot(path=str(SCREENSHOTS / "jit-approved.png"), full_page=True)
    analyst.click("nav >> text=Queries")
    # A query under a grant names it (its id is on the Grants page) with the approved reason.
    from apps.jit_approvals.models import AccessGrant

    grant = AccessGrant.all_tenants.latest("pk")
    under_grant = json.loads(NAMES) | {"grant": grant.pk, "reason": "Case 118: identify the organiser of the ring"}
    analyst.fill("#id_spec", json.dumps(under_grant))
    analyst.click("button:has-text('Run query')")
    analyst.wait_for_selector("[data-status=allowed]")
    assert "Ran under just-in-time grant" in analyst.inner_text("main")
    ctx.close()
