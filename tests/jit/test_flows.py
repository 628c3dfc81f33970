"""The JIT flow in the web UI, through the pages' own links and forms: a denied query offers a
request (saying what a grant reveals), the inbox shows the triggering query and the progress,
the approver is told when access is active, the requester by e-mail, and the old denial then
offers "Run again under grant #N" with the query kept, instead of "Request access"."""

from __future__ import annotations

import json
import re

from django.test import Client

from apps.core.tenancy import tenant_context
from apps.jit_approvals.models import AccessGrant, AccessRequest, SlackIdentity
from apps.queries.models import QueryRun
from tests.conftest import token_client
from tests.jit.test_jit_flow import NAMES


def _messages(page) -> list[str]:
    return re.findall(r'<li class="msg-[a-z]+">(.*?)</li>', page.content.decode())


def test_denied_request_approved_rerun_and_linked_both_ways(
    jit_world, slack, smtp, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(jit_world["tenant"]):  # the requester linked Slack: told there too
        SlackIdentity.objects.create(
            user=jit_world["requester"], slack_user_id="U0REQ", verified_at="2026-01-01T00:00:00Z"
        )
    analyst = Client()
    analyst.force_login(jit_world["requester"])
    denied_page = analyst.post("/queries/", {"spec": json.dumps(NAMES)}, follow=True)
    run = QueryRun.all_tenants.get(user=jit_world["requester"])
    assert run.status == "denied" and b"data-request-access" in denied_page.content
    form = analyst.get(f"/jit/?run={run.pk}").content.decode()
    assert "What the grant will and will not reveal" in form
    assert re.search(r"<strong>name</strong>: still hashed", form)
    with django_capture_on_commit_callbacks(execute=True):
        sent = analyst.post(
            "/jit/", {"run": run.pk, "duration_minutes": 60, "reason": "Case 2026-118: the organiser"}, follow=True
        )
    req = AccessRequest.all_tenants.get(source_run_id=run.pk)
    assert sent.redirect_chain[-1][0] == f"/jit/requests/{req.pk}/"

    approver = Client()
    approver.force_login(jit_world["sup1"])
    inbox = approver.get("/jit/inbox/").content.decode()
    assert f'href="/queries/{run.pk}/"' in inbox and "0 of 2 approvals" in inbox
    first = approver.post(f"/jit/requests/{req.pk}/approve/", {"comment": ""}, follow=True)
    assert "1 of 2 approvals" in _messages(first)[0]
    approver.force_login(jit_world["sup2"])
    with django_capture_on_commit_callbacks(execute=True):
        final = approver.post(f"/jit/requests/{req.pk}/approve/", {"comment": "ok"}, follow=True)
    grant = AccessGrant.all_tenants.get(request=req)
    assert "Access is now active for requester" in _messages(final)[0] and f"grant #{grant.pk}" in _messages(final)[0]
    [dm] = [p for p in slack.posts() if p["channel"] == "U0REQ"]
    assert "your access to calls-demo is now active" in dm["text"] and f"/jit/requests/{req.pk}/" in dm["text"]
    told = [m for m in smtp.to(jit_world["requester"].email) if "Approved" in m["Subject"]]
    assert told and "Your access is now active" in told[0].get_payload(0).get_payload(decode=True).decode()

    # The API's 403 follows the same rule: no request_access while a grant covers the scope.
    body = token_client(jit_world["requester"], jit_world["tenant"]).post("/api/queries/", NAMES, format="json").json()
    assert body["details"]["covered_by_grant"] == grant.pk and "request_access" not in body["details"]

    # The old denial: covered now, so no "Request access" but "Run again under grant #N".
    again = analyst.get(f"/queries/{run.pk}/").content.decode()
    assert "data-request-access" not in again and f'data-covered-by="{grant.pk}"' in again
    assert f'action="/jit/grants/{grant.pk}/run/"' in again and f"Run again under grant #{grant.pk}" in again
    rerun = analyst.post(f"/jit/grants/{grant.pk}/run/", {"run": run.pk}, follow=True)
    new_run = QueryRun.all_tenants.filter(user=jit_world["requester"]).latest("pk")
    assert new_run.status == "allowed", new_run.explanation
    assert new_run.jit_grant_id == grant.pk
    assert {k: v for k, v in new_run.spec.items() if k not in ("grant", "reason")} == {
        k: v for k, v in run.spec.items() if k != "reason"
    }
    assert f'href="/jit/grants/{grant.pk}/"' in rerun.content.decode()
    assert analyst.get(f"/jit/grants/{grant.pk}/")["Location"] == f"/jit/requests/{req.pk}/#grant"
    request_page = analyst.get(f"/jit/requests/{req.pk}/").content.decode()
    assert f'href="/queries/{new_run.pk}/"' in request_page and f'href="/queries/{run.pk}/"' in request_page

    # Both ways: the denied run's page names the request it led to.
    auditor = Client()
    auditor.force_login(jit_world["admin"])
    linked = auditor.get(f"/queries/{run.pk}/").content.decode()
    assert f'href="/jit/requests/{req.pk}/" data-link="request"' in linked
    # The run under the grant: its page links to its evidence, whose grant is links, not a dict.
    under = auditor.get(f"/queries/{new_run.pk}/").content.decode()
    assert f'href="/evidence/{new_run.pk}/" data-link="evidence"' in under
    evidence = auditor.get(f"/evidence/{new_run.pk}/").content.decode()
    grant_cell = re.search(r"<dd data-manifest-grant>(.*?)</dd>", evidence, re.S).group(1)
    assert f'href="/jit/grants/{grant.pk}/" data-link="grant"' in grant_cell
    assert f'href="/jit/requests/{req.pk}/" data-link="request"' in grant_cell
    assert "{&#x27;" not in grant_cell and "sup1 (web), sup2 (web)" in grant_cell
