"""E-mail links are the approver's alone and are not spent by a failed decision; the JIT
pages never redirect off-site; the auditor role cannot revoke anyone's grant."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.jit_approvals import services
from apps.jit_approvals.models import AccessGrant, AccessRequest, Approval, ApprovalLink, Notification
from tests.conftest import member, token_client
from tests.jit.test_jit_flow import _email_link, _request


@pytest.fixture
def pending(jit_world, slack, smtp, django_capture_on_commit_callbacks):
    _, req = _request(jit_world, django_capture_on_commit_callbacks)
    return req


def _path(smtp, who: str, action: str) -> str:
    return _email_link(smtp, f"{who}@example.test", action).split("127.0.0.1:8000", 1)[-1]


def _refusals(world, code: str) -> list[AuditEvent]:
    return [
        e
        for e in AuditEvent.all_tenants.filter(tenant=world["tenant"], action="jit.decision_refused")
        if e.payload.get("code") == code
    ]


def test_a_signed_in_user_cannot_submit_another_approvers_link(jit_world, pending, smtp) -> None:
    path = _path(smtp, "sup2", "approve")
    web = Client()
    web.force_login(jit_world["sup1"])
    page = web.get(path)
    assert page.status_code == 403 and b"belongs to another approver" in page.content
    refused = web.post(path)
    assert refused.status_code == 403
    assert not Approval.all_tenants.filter(request_id=pending["id"]).exists()
    [event] = _refusals(jit_world, "not_link_owner")
    assert event.actor_id == jit_world["sup1"].pk
    # The link is not spent: its owner can still use it.
    assert Client().post(path).status_code == 200
    assert Approval.all_tenants.get(request_id=pending["id"]).approver == jit_world["sup2"]


def test_a_decision_that_fails_does_not_spend_the_link(
    jit_world, pending, smtp, django_capture_on_commit_callbacks
) -> None:
    path = _path(smtp, "sup2", "approve")
    with tenant_context(jit_world["tenant"]):
        # sup2 temporarily loses eligibility: the decision is refused.
        from guardian.shortcuts import assign_perm, remove_perm

        remove_perm("graphs.approve_access", jit_world["sup2"], jit_world["dataset"])
    failed = Client().post(path)
    assert failed.status_code == 403 and b"not an eligible approver" in failed.content
    assert ApprovalLink.all_tenants.get(nonce=_nonce(path)).used_at is None
    assert _refusals(jit_world, "not_eligible")
    with tenant_context(jit_world["tenant"]):
        assign_perm("graphs.approve_access", jit_world["sup2"], jit_world["dataset"])
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().post(path).status_code == 200
    assert ApprovalLink.all_tenants.get(nonce=_nonce(path)).used_at is not None
    assert Client().post(path).status_code == 410


def _nonce(path: str) -> str:
    from django.core import signing

    from apps.jit_approvals.notify import EMAIL_SALT

    token = path.rstrip("/").rsplit("/", 1)[-1]
    return signing.loads(token, salt=EMAIL_SALT)["n"]


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example/x", "///evil.example"])
def test_the_decide_button_never_redirects_off_site(jit_world, pending, target) -> None:
    web = Client()
    web.force_login(jit_world["sup1"])
    response = web.post(reverse("jit-decide", args=[pending["id"], "approve"]), {"next": target})
    assert response.status_code == 302 and response["Location"] == reverse("jit-inbox")


def test_the_decide_button_follows_a_local_next(jit_world, pending) -> None:
    web = Client()
    web.force_login(jit_world["sup1"])
    local = reverse("jit-request-detail", args=[pending["id"]])
    assert web.post(reverse("jit-decide", args=[pending["id"], "deny"]), {"next": local})["Location"] == local


@pytest.fixture
def grant(jit_world, pending) -> AccessGrant:
    with tenant_context(jit_world["tenant"]):
        for who in ("sup1", "sup2"):
            services.decide(request_id=pending["id"], approver=jit_world[who], decision="approve", channel="web")
        return AccessGrant.objects.get(request_id=pending["id"])


def test_an_auditor_sees_every_grant_but_cannot_revoke_one(jit_world, grant) -> None:
    auditor = member(jit_world["tenant"], "pure-auditor", Role.AUDITOR)
    api = token_client(auditor, jit_world["tenant"])
    assert [g["id"] for g in api.get("/api/jit/grants/").json()["results"]] == [grant.pk]
    assert api.post(f"/api/jit/grants/{grant.pk}/revoke/").status_code == 404
    web = Client()
    web.force_login(auditor)
    page = web.get(reverse("jit-grants"))
    assert page.status_code == 200 and reverse("jit-grant-revoke", args=[grant.pk]).encode() not in page.content
    assert web.post(reverse("jit-grant-revoke", args=[grant.pk])).status_code == 404
    grant.refresh_from_db()
    assert grant.revoked_at is None
    assert not AuditEvent.all_tenants.filter(tenant=jit_world["tenant"], action="jit.revoked").exists()


def test_the_grant_holder_and_a_tenant_admin_can_revoke(jit_world, grant, pending) -> None:
    holder = token_client(jit_world["requester"], jit_world["tenant"])
    assert holder.post(f"/api/jit/grants/{grant.pk}/revoke/").json()["revoked_at"] is not None
    assert AccessRequest.all_tenants.get(pk=pending["id"]).status == "approved"
    other = AccessGrant.all_tenants.filter(pk=grant.pk)
    other.update(revoked_at=None)  # not audited: only to reuse the grant for the admin case
    web = Client()
    web.force_login(jit_world["admin"])
    confirm = web.get(reverse("jit-grant-revoke", args=[grant.pk])).content.decode()
    assert "requester loses access to" in confirm and "requester is told it" in confirm
    # Someone else's access: the reason is required, and the holder is told it.
    unexplained = web.post(reverse("jit-grant-revoke", args=[grant.pk]))
    assert unexplained.status_code == 400 and "Say why you revoke this grant" in unexplained.content.decode()
    assert AccessGrant.all_tenants.get(pk=grant.pk).revoked_at is None
    revoked = web.post(reverse("jit-grant-revoke", args=[grant.pk]), {"reason": "Case closed on 2 Dec."}, follow=True)
    assert "requester has been told" in revoked.content.decode()
    assert AccessGrant.all_tenants.get(pk=grant.pk).revoked_by == jit_world["admin"]
    told = Notification.all_tenants.get(request_id=pending["id"], kind="revoked", channel="email")
    assert told.recipient == jit_world["requester"] and told.payload["reason"] == "Case closed on 2 Dec."
    event = AuditEvent.all_tenants.filter(tenant=jit_world["tenant"], action="jit.revoked").order_by("-seq").first()
    assert event.actor == jit_world["admin"] and event.reason == "Case closed on 2 Dec."
