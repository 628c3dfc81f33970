"""One rule set for decisions outside the web session (apps/jit_approvals/channels.py):
high-risk approvals need the web from e-mail and Slack alike, denials typed in the web UI or
the API say why, and every refusal is audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.jit_approvals.models import AccessRequest, Approval
from tests.conftest import token_client
from tests.jit.test_jit_flow import _email_link, _request, _slack_click


@pytest.fixture
def high_risk(jit_world, slack, smtp, django_capture_on_commit_callbacks):
    _, req = _request(jit_world, django_capture_on_commit_callbacks)
    AccessRequest.all_tenants.filter(pk=req["id"]).update(high_risk=True)
    return req


def _refused(world, code: str) -> list[AuditEvent]:
    events = AuditEvent.all_tenants.filter(tenant=world["tenant"], action="jit.decision_refused")
    return [e for e in events if e.payload.get("code") == code]


def test_high_risk_approval_needs_the_web_from_email_and_slack(jit_world, high_risk, smtp) -> None:
    web = Client()
    path = _email_link(smtp, "sup2@example.test", "approve").split("127.0.0.1:8000", 1)[-1]
    confirm = web.get(path).content.decode()  # the approval page says what the grant reveals
    assert "What the grant will and will not reveal" in confirm and "<strong>name</strong>: still hashed" in confirm
    refused = web.post(path)
    assert refused.status_code == 403 and b"sign in as the approver" in refused.content
    slack_reply, *_ = _slack_click(web, "U0SUP1", high_risk["id"])
    assert "confirm in the web UI" in slack_reply.json()["text"]
    assert f"/jit/requests/{high_risk['id']}/" in slack_reply.json()["text"]
    assert sorted(e.payload["channel"] for e in _refused(jit_world, "needs_web_confirmation")) == ["email", "slack"]
    assert not Approval.all_tenants.filter(request_id=high_risk["id"]).exists()
    # The link was not spent: signed in as its owner, the same link approves.
    web.force_login(jit_world["sup2"])
    assert web.post(path).status_code == 200
    assert Approval.all_tenants.get(request_id=high_risk["id"]).channel == "email"


def test_high_risk_can_still_be_denied_from_slack(jit_world, high_risk, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        reply, *_ = _slack_click(Client(), "U0SUP1", high_risk["id"], action="jit_deny")
    assert reply.json()["text"] == f"Recorded: you denied request #{high_risk['id']}."
    assert AccessRequest.all_tenants.get(pk=high_risk["id"]).status == "denied"


def test_a_denial_in_the_web_ui_or_api_needs_a_reason(jit_world, pending_plain) -> None:
    rid = pending_plain["id"]
    web = Client()
    web.force_login(jit_world["sup1"])
    page = web.post(reverse("jit-decide", args=[rid, "deny"]), {"next": f"/jit/requests/{rid}/"}, follow=True)
    assert "Say why you deny the request" in page.content.decode()
    api = token_client(jit_world["sup2"], jit_world["tenant"])
    refused = api.post(f"/api/jit/requests/{rid}/deny/", {"comment": "  "}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "comment_required"
    assert AccessRequest.all_tenants.get(pk=rid).status == "pending"
    denied = api.post(f"/api/jit/requests/{rid}/deny/", {"comment": "Not this case's scope."}, format="json")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert Approval.all_tenants.get(request_id=rid).comment == "Not this case's scope."


@pytest.fixture
def pending_plain(jit_world, slack, smtp, django_capture_on_commit_callbacks):
    _, req = _request(jit_world, django_capture_on_commit_callbacks)
    return req
