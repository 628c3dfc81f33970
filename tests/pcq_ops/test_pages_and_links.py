"""On-call pages in Slack (real slack_sdk against the loopback Slack stand-in) and by e-mail
(aiosmtpd), both through the JIT notification outbox; approving a suppression rule from a
signed, single-use e-mail link."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEvent, Role
from apps.core.tenancy import tenant_context
from apps.jit_approvals.models import Notification, SlackIdentity
from apps.pcq_ops import anomalies, lineage
from apps.pcq_ops.models import Anomaly, OnCallPage, SuppressionLink, SuppressionRule
from tests.conftest import member
from tests.jit import conftest as jit_fixtures

slack, smtp = jit_fixtures.slack, jit_fixtures.smtp  # the loopback Slack stand-in and aiosmtpd

pytestmark = pytest.mark.django_db


def _error(dataset: str = "calls-demo", version: int = 2) -> Anomaly:
    current = {"dataset": lineage.dataset_node(dataset, version, f"{version:064x}")}
    with transaction.atomic():  # as the receiver that records it: inside the verification's save
        return anomalies.anomaly_record(
            kind="error", message="Replay failed.", current=current, subject=f"query:{dataset}:degree", dataset=dataset
        )


def test_a_burst_of_one_root_is_one_slack_message_and_one_mail_per_on_call_with_an_explorer_link(
    tenant_a,
    admin_a,
    tenant_b,
    admin_b,
    slack,
    smtp,
    django_capture_on_commit_callbacks,
) -> None:
    admin_a.email = "oncall@a.test"
    admin_a.save()
    mail_only = member(tenant_a, "second-admin", Role.ADMIN)
    mail_only.email = "second@a.test"
    mail_only.save()
    admin_b.email = "oncall@b.test"
    admin_b.save()
    with tenant_context(tenant_a):
        SlackIdentity.objects.create(user=admin_a, slack_user_id="U0ONCALL", verified_at=timezone.now())
        SlackIdentity.objects.create(user=mail_only, slack_user_id="U0UNVERIFIED")  # never verified: no DM
        with django_capture_on_commit_callbacks(execute=True):
            burst = [_error() for _ in range(3)]
        with django_capture_on_commit_callbacks(execute=True):
            other_root = _error("calls-other")
        page = OnCallPage.objects.get(pk=burst[0].page_id)
        assert {a.page_id for a in burst} == {page.pk} and other_root.page_id != page.pk
        assert sorted(page.recipients) == ["admin-a", "second-admin"]
        rows = Notification.objects.filter(kind="message", idempotency_key__startswith=f"pcq-page:{page.pk}:")
        assert sorted(rows.values_list("channel", "status")) == [
            ("email", "sent"),
            ("email", "sent"),
            ("slack", "sent"),
        ]
    url = f"/ops/pcq/pages/{page.pk}/"
    dms = [p for p in slack.posts() if p["channel"] == "U0ONCALL"]
    assert len(dms) == 2  # the burst's page and the other root's page: one message each
    [dm] = [p for p in dms if url in p["text"]]
    assert page.title in dm["text"] and any(url in str(b) and "explorer" in str(b) for b in dm["blocks"])
    assert dm["metadata"]["event_payload"]["key"] == f"pcq-page:{page.pk}:slack:{admin_a.pk}"
    assert not [p for p in slack.posts() if p["channel"] == "U0UNVERIFIED"]
    for address in ("oncall@a.test", "second@a.test"):
        mails = [m for m in smtp.to(address) if url in m.get_body(("plain",)).get_content()]
        assert len(mails) == 1 and page.title in mails[0]["Subject"] and "PCQ page" in mails[0]["Subject"]
    assert smtp.to("oncall@b.test") == []  # tenant B's on-call hears nothing of A
    # The outbox rows and the page stay tenant A's.
    with tenant_context(tenant_b):
        assert not Notification.objects.filter(kind="message").exists()
    c = Client()
    c.force_login(admin_b)
    assert c.get(url).status_code == 404


def test_a_page_while_slack_fails_is_retried_and_posted_once(
    tenant_a,
    admin_a,
    slack,
    smtp,
    django_capture_on_commit_callbacks,
) -> None:
    with tenant_context(tenant_a):
        SlackIdentity.objects.create(user=admin_a, slack_user_id="U0ONCALL", verified_at=timezone.now())
        slack.failures = 2
        with django_capture_on_commit_callbacks(execute=True):
            _error()
        [row] = Notification.objects.filter(kind="message", channel="slack")
        assert row.status == "sent" and row.attempts == 3
    assert len([p for p in slack.posts() if p["channel"] == "U0ONCALL"]) == 1


# --- Approving a suppression rule from an e-mail link ------------------------------------------------


def _approval_link(smtp, address: str, rule: SuppressionRule) -> str:
    [message] = [m for m in smtp.to(address) if f"suppression rule {rule.pk}" in m["Subject"]]
    return (
        re.search(r"only for you\): (\S+)", message.get_body(("plain",)).get_content())
        .group(1)
        .split("127.0.0.1:8000", 1)[-1]
    )


@pytest.fixture
def people(tenant_a, admin_a):
    out = {"author": member(tenant_a, "author", Role.POLICY_AUTHOR, Role.APPROVER)}
    for name in ("ap1", "ap2"):
        out[name] = member(tenant_a, name, Role.APPROVER)
    out["reader"] = member(tenant_a, "reader", Role.AUDITOR)
    for user in (*out.values(), admin_a):
        user.email = f"{user.username}@a.test"
        user.save()
    return out


def _rule(tenant, author, capture, **kw) -> SuppressionRule:
    with tenant_context(tenant), capture(execute=True):
        return anomalies.suppression_create(
            actor=author, matchers={"dataset": "calls-demo", "kind": "error", **kw}, reason="known, fix in #12", hours=4
        )


def test_an_approver_approves_once_from_the_mailed_link(
    tenant_a,
    admin_a,
    people,
    smtp,
    django_capture_on_commit_callbacks,
) -> None:
    rule = _rule(tenant_a, people["author"], django_capture_on_commit_callbacks)
    # Approvers and admins other than the creator get a link; the creator and the auditor do not.
    approval_mails = {m["To"] for m in smtp.messages if "Approve suppression rule" in m["Subject"]}
    assert approval_mails == {"ap1@a.test", "ap2@a.test", "admin-a@a.test"}
    path = _approval_link(smtp, "ap1@a.test", rule)
    web = Client()
    page = web.get(path)  # a mail scanner's prefetch: only the confirmation page
    assert page.status_code == 200 and b"data-confirm" in page.content and b"known, fix in #12" in page.content
    with tenant_context(tenant_a):
        assert SuppressionRule.objects.get(pk=rule.pk).status == "pending"
    done = web.post(path)
    assert done.status_code == 200 and b"It is active until" in done.content
    with tenant_context(tenant_a):
        rule.refresh_from_db()
        assert rule.status == "active" and rule.approved_by == [people["ap1"].pk]
        event = AuditEvent.objects.get(action="pcq_ops.suppression_approved")
        assert event.actor == people["ap1"] and event.payload["channel"] == "email"
        assert path.rsplit("/", 2)[-2] not in str(AuditEvent.objects.values_list("payload", flat=True))
    # Replayed: refused with a clear page, audited, nothing changes.
    replay = web.post(path)
    assert replay.status_code == 410 and b"already been used" in replay.content
    assert web.get(path).status_code == 410
    # Another approver's link now: the rule no longer waits.
    late = web.get(_approval_link(smtp, "ap2@a.test", rule))
    assert late.status_code == 410 and b"no longer waiting for approval" in late.content
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="pcq_ops.suppression_approval_refused").count() == 1


def test_forged_expired_and_someone_elses_links_are_refused(
    tenant_a,
    admin_a,
    people,
    tenant_b,
    admin_b,
    smtp,
    django_capture_on_commit_callbacks,
) -> None:
    rule = _rule(tenant_a, people["author"], django_capture_on_commit_callbacks)
    path = _approval_link(smtp, "ap1@a.test", rule)
    token = path.rsplit("/", 2)[-2]
    web = Client()
    forged = path.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    for response in (web.get(forged), web.post(forged)):
        assert response.status_code == 404 and b"This link is not valid." in response.content
    # A JIT access-request token's signature cannot be replayed as a rule approval (purpose-bound).
    from apps.jit_approvals import notify

    with tenant_context(tenant_a):
        nonce = SuppressionLink.objects.get(approver=people["ap1"]).nonce
    assert web.post(reverse("pcq-ops-email-approve", args=[notify.link_token(nonce)])).status_code == 404
    assert web.post(reverse("jit-email-action", args=[token])).status_code == 404
    # Signed in as someone else (another approver, or another tenant's admin): refused, audited, unspent.
    for user in (people["ap2"], admin_b):
        other = Client()
        other.force_login(user)
        assert other.get(path).status_code == 403
        refused = other.post(path)
        assert refused.status_code == 403 and b"belongs to another approver" in refused.content
    with tenant_context(tenant_a):
        refusals = AuditEvent.objects.filter(action="pcq_ops.suppression_approval_refused")
        assert [e.payload["code"] for e in refusals] == ["not_link_owner", "not_link_owner"]
        assert SuppressionRule.objects.get(pk=rule.pk).status == "pending"
        SuppressionLink.objects.filter(approver=people["ap1"]).update(expires_at=timezone.now())
    expired = web.post(path)
    assert expired.status_code == 410 and b"This link has expired." in expired.content
    # A link whose owner lost the approver role refuses and stays unspent.
    path2 = _approval_link(smtp, "ap2@a.test", rule)
    with tenant_context(tenant_a):
        from apps.core.models import Membership

        Membership.objects.filter(user=people["ap2"]).update(is_active=False)
    lost = web.post(path2)
    assert lost.status_code == 403 and b"needs the approver or admin role" in lost.content
    with tenant_context(tenant_a):
        assert SuppressionLink.objects.get(approver=people["ap2"]).used_at is None
        assert SuppressionRule.objects.get(pk=rule.pk).status == "pending"


def test_a_broad_rule_still_needs_two_different_approvers_by_link(
    tenant_a,
    admin_a,
    people,
    smtp,
    django_capture_on_commit_callbacks,
) -> None:
    with tenant_context(tenant_a):
        _error()  # the only recent anomaly: the rule below would mute all of it
    rule = _rule(tenant_a, people["author"], django_capture_on_commit_callbacks)
    assert rule.approvals_required == 2
    web = Client()
    first = web.post(_approval_link(smtp, "ap1@a.test", rule))
    assert first.status_code == 200 and b"1 of the 2 approvals" in first.content
    with tenant_context(tenant_a):
        assert SuppressionRule.objects.get(pk=rule.pk).status == "pending"
    assert web.post(_approval_link(smtp, "ap1@a.test", rule)).status_code == 410  # the same person twice
    second = web.post(_approval_link(smtp, "ap2@a.test", rule))
    assert second.status_code == 200 and b"It is active until" in second.content
    with tenant_context(tenant_a):
        rule.refresh_from_db()
        assert rule.status == "active" and rule.approved_by == [people["ap1"].pk, people["ap2"].pk]
