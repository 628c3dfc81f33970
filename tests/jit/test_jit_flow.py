"""JIT approvals end to end: denied → requested → approved from a Slack button and an
e-mail link → the query runs under a grant named in its manifest → expiry denies again."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.jit_approvals import services
from apps.jit_approvals.models import AccessGrant, AccessRequest, Approval, Notification, NotificationAttempt
from apps.provenance.models import Manifest
from apps.queries.pipeline import query_run_execute
from tests.conftest import demo_query, token_client
from tests.core.test_api import assert_envelope
from tests.jit.conftest import slack_signature

NAMES = demo_query(seeds=["grp12-0"], hops=1, metric="degree", fields=["name", "city"])


def _slack_click(
    client: Client,
    slack_user: str,
    request_id: int,
    action: str = "jit_approve",
    *,
    timestamp: int | None = None,
    secret: str | None = None,
):
    payload = {
        "type": "block_actions",
        "user": {"id": slack_user, "team_id": "T0"},
        "actions": [{"action_id": action, "value": str(request_id), "type": "button"}],
        "container": {"type": "message", "channel_id": "D1", "message_ts": "1.1"},
    }
    body = urlencode({"payload": json.dumps(payload)})
    ts = timestamp or int(time.time())
    signature = slack_signature(body, ts, secret) if secret else slack_signature(body, ts)
    return (
        client.post(
            "/jit/slack/interactivity/",
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=str(ts),
            HTTP_X_SLACK_SIGNATURE=signature,
        ),
        body,
        ts,
        signature,
    )


def _email_link(smtp, address: str, action: str) -> str:
    [message] = [m for m in smtp.to(address) if "Approval request" in m["Subject"]][-1:]
    text = next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")
    html = next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/html")
    assert "Approve" in html
    return re.search(rf"{action.capitalize()}:\s+(\S+)", text).group(1)


def _request(world, django_capture_on_commit_callbacks, **kw):
    client = token_client(world["requester"], world["tenant"])
    denied = client.post("/api/queries/", NAMES, format="json")
    body = assert_envelope(denied, 403, "query_denied")
    assert "JIT_REQUIRED" in body["details"]["reason_codes"] and body["details"]["request_access"]["run"]
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            "/api/jit/requests/",
            {
                "run": body["details"]["run_id"],
                "duration_minutes": 90,
                "reason": "Case 2026-118: identify the ring's organiser",
                **kw,
            },
            format="json",
        )
    assert created.status_code == 201, created.content
    return client, created.json()


def test_denied_query_requested_approved_by_slack_and_email_then_runs_then_expires(
    jit_world, slack, smtp, django_capture_on_commit_callbacks
) -> None:
    client, req = _request(jit_world, django_capture_on_commit_callbacks)
    assert req["approvals_required"] == 2 and req["status"] == "pending"
    # sup1 is linked to Slack (DM with buttons) and both supervisors get e-mail; the duty officer does not (yet)
    [post] = slack.posts()
    assert post["channel"] == "U0SUP1" and "jit_approve" in json.dumps(post["blocks"])
    assert (
        len(smtp.to("sup1@example.test")) == 1
        and len(smtp.to("sup2@example.test")) == 1
        and not smtp.to("duty@example.test")
    )

    web = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response, *_ = _slack_click(web, "U0SUP1", req["id"])
    assert response.status_code == 200 and "you approved" in response.json()["text"]
    assert any(m == "chat.update" for m, _ in slack.calls)  # the message now says who decided

    url = _email_link(smtp, "sup2@example.test", "approve")
    path = url.split("127.0.0.1:8000", 1)[-1]
    confirm = web.get(path)
    assert confirm.status_code == 200 and b"Nothing happens until you press the button" in confirm.content
    assert AccessRequest.all_tenants.get(pk=req["id"]).status == "pending"  # a GET never acts
    with django_capture_on_commit_callbacks(execute=True):
        done = web.post(path)
    assert done.status_code == 200 and b"data-email-done" in done.content

    state = client.get(f"/api/jit/requests/{req['id']}/").json()
    assert state["status"] == "approved" and {a["channel"] for a in state["approvals"]} == {"slack", "email"}
    grant = AccessGrant.all_tenants.get(request_id=req["id"])
    # A query under a grant names it and states the reason it was approved for (issue 9).
    unnamed = client.post("/api/queries/", NAMES, format="json")
    assert "JIT_REQUIRED" in assert_envelope(unnamed, 403, "query_denied")["details"]["reason_codes"]
    other = client.post("/api/queries/", {**NAMES, "grant": grant.pk}, format="json")
    assert "GRANT_REASON_MISMATCH" in assert_envelope(other, 403, "query_denied")["details"]["reason_codes"]
    under_grant = {**NAMES, "grant": grant.pk, "reason": "Case 2026-118: identify the ring's organiser"}
    ran = client.post("/api/queries/", under_grant, format="json")
    assert ran.status_code == 201, ran.content
    run = ran.json()
    assert f"jit:{grant.pk}" in run["reason_codes"]
    manifest = Manifest.all_tenants.get(query_run_id=run["id"]).body
    assert manifest["jit_grant"]["id"] == grant.pk and manifest["jit_grant"]["reason_sha256"] == req["reason_sha256"]
    assert [a["channel"] for a in manifest["jit_grant"]["approvals"]] == ["slack", "email"]
    actions = list(AuditEvent.all_tenants.filter(tenant=jit_world["tenant"]).values_list("action", flat=True))
    assert {"jit.requested", "jit.approved", "jit.granted", "query.allowed"} <= set(actions)
    allowed_event = AuditEvent.all_tenants.get(tenant=jit_world["tenant"], seq=run["audit_seq"])
    assert allowed_event.payload["jit_grant"] == grant.pk

    later = grant.expires_at + timedelta(seconds=1)
    with tenant_context(jit_world["tenant"]):
        expired = query_run_execute(
            actor=jit_world["requester"], roles=frozenset({"analyst"}), spec=under_grant, now=later
        )
    assert expired.status == "denied" and "GRANT_NOT_APPLICABLE" in expired.reason_codes


@pytest.fixture
def pending(jit_world, slack, smtp, django_capture_on_commit_callbacks):
    _, req = _request(jit_world, django_capture_on_commit_callbacks)
    return req


def _refusals(world) -> int:
    return AuditEvent.all_tenants.filter(tenant=world["tenant"], action="jit.decision_refused").count()


def test_refusals_are_clear_and_audited(jit_world, pending, django_capture_on_commit_callbacks) -> None:
    world, rid = jit_world, pending["id"]
    with tenant_context(world["tenant"]):
        with pytest.raises(Exception, match="own request"):
            services.decide(request_id=rid, approver=world["requester"], decision="approve", channel="web")
        services.decide(request_id=rid, approver=world["sup1"], decision="approve", channel="web")
        with pytest.raises(Exception, match="already decided"):
            services.decide(request_id=rid, approver=world["sup1"], decision="approve", channel="web")
        with pytest.raises(Exception, match="not an eligible approver"):
            services.decide(
                request_id=rid, approver=world["duty"], decision="approve", channel="web"
            )  # not escalated yet
        world["sup2"].is_active = False
        world["sup2"].save()
        with pytest.raises(Exception, match="not an eligible approver"):
            services.decide(request_id=rid, approver=world["sup2"], decision="approve", channel="web")
    assert _refusals(world) == 4
    outsider = token_client(
        world["outsider"], world["outsider"].memberships.model.all_tenants.get(user=world["outsider"]).tenant
    )
    assert_envelope(outsider.post(f"/api/jit/requests/{rid}/approve/", {}, format="json"), 404)


def test_decision_after_the_deadline_is_refused(jit_world, pending) -> None:
    with tenant_context(jit_world["tenant"]):
        request = AccessRequest.objects.get(pk=pending["id"])
        with pytest.raises(Exception, match="deadline has passed"):
            services.decide(
                request_id=request.pk,
                approver=jit_world["sup1"],
                decision="approve",
                channel="web",
                now=request.deadline_at + timedelta(seconds=1),
            )
    assert _refusals(jit_world) == 1


def test_forged_replayed_and_stale_slack_requests_are_refused(
    jit_world, pending, django_capture_on_commit_callbacks
) -> None:
    web = Client()
    forged, *_ = _slack_click(web, "U0SUP1", pending["id"], secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["code"] == "bad_signature"
    stale, *_ = _slack_click(web, "U0SUP1", pending["id"], timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        first, body, ts, signature = _slack_click(web, "U0SUP1", pending["id"], action="jit_deny")
    assert first.status_code == 200
    replay = web.post(
        "/jit/slack/interactivity/", body, content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(ts), HTTP_X_SLACK_SIGNATURE=signature,
    )  # fmt: skip
    assert replay.status_code == 401 and replay.json()["code"] == "replayed"
    assert AccessRequest.all_tenants.get(pk=pending["id"]).status == "denied"
    unlinked, *_ = _slack_click(web, "U0NOBODY", pending["id"])
    assert "not linked" in unlinked.json()["text"]


def test_tampered_and_reused_email_links_are_refused(
    jit_world, pending, smtp, django_capture_on_commit_callbacks
) -> None:
    web = Client()
    path = _email_link(smtp, "sup2@example.test", "deny").split("127.0.0.1:8000", 1)[-1]
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert web.get(tampered).status_code == 404 and web.post(tampered).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post(path).status_code == 200
    reused = web.post(path)
    assert reused.status_code == 410 and b"already been used" in reused.content
    # The other approver's link cannot be used to act as this one: links are approver-bound.
    assert Approval.all_tenants.get(request_id=pending["id"]).approver == jit_world["sup2"]


def test_slack_and_smtp_failing_twice_still_deliver_exactly_once(
    jit_world, slack, smtp, django_capture_on_commit_callbacks
) -> None:
    slack.failures, smtp.failures = 2, 2
    _, req = _request(jit_world, django_capture_on_commit_callbacks)
    assert len(slack.posts()) == 1
    assert len(smtp.to("sup1@example.test")) == 1 and len(smtp.to("sup2@example.test")) == 1
    notifications = Notification.all_tenants.filter(request_id=req["id"]).order_by("id")
    assert all(n.status == "sent" for n in notifications)
    attempts = {n.channel: NotificationAttempt.all_tenants.filter(notification=n).count() for n in notifications}
    assert attempts["slack"] == 3  # two failures, then success, each attempt recorded
    # re-queuing the same notification never sends it twice
    from apps.jit_approvals.notify import deliver

    with tenant_context(jit_world["tenant"]):
        for n in notifications:
            deliver(n.pk)
    assert len(slack.posts()) == 1 and len(smtp.to("sup1@example.test")) == 1


def test_reminders_escalation_and_auto_deny_follow_the_clock(
    jit_world, pending, smtp, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(jit_world["tenant"]):
        created = AccessRequest.objects.get(pk=pending["id"]).created_at
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep(now=created + timedelta(minutes=14))["reminded"] == 0
            assert services.sweep(now=created + timedelta(minutes=15))["reminded"] == 1
            assert services.sweep(now=created + timedelta(minutes=16))["reminded"] == 0  # once
        assert any("Reminder" in m["Subject"] for m in smtp.to("sup1@example.test"))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep(now=created + timedelta(minutes=30))["escalated"] == 1
        assert any("Escalation" in m["Subject"] for m in smtp.to("duty@example.test"))
        # once escalated, the duty officer may decide
        services.decide(
            request_id=pending["id"],
            approver=jit_world["duty"],
            decision="approve",
            channel="web",
            now=created + timedelta(minutes=31),
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep(now=created + timedelta(minutes=60))["expired"] == 1
        assert AccessRequest.objects.get(pk=pending["id"]).status == "expired"
    assert any("Expired" in m["Subject"] for m in smtp.to("requester@example.test"))
    actions = set(AuditEvent.all_tenants.filter(tenant=jit_world["tenant"]).values_list("action", flat=True))
    assert {"jit.reminded", "jit.escalated", "jit.expired"} <= actions


def test_grants_warn_before_expiry_record_expiry_and_can_be_revoked(
    jit_world, pending, smtp, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(jit_world["tenant"]):
        for who in ("sup1", "sup2"):
            services.decide(request_id=pending["id"], approver=jit_world[who], decision="approve", channel="web")
        grant = AccessGrant.objects.get(request_id=pending["id"])
        assert grant.expires_at - grant.starts_at == timedelta(minutes=90)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep(now=grant.expires_at - timedelta(minutes=10))["expiring_noticed"] == 1
        assert services.sweep(now=grant.expires_at)["grants_expired"] == 1
        services.grant_revoke(grant_id=grant.pk, actor=jit_world["admin"], reason="Case closed.")
        grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert any("expires soon" in m["Subject"] for m in smtp.to("requester@example.test"))
    client = token_client(jit_world["requester"], jit_world["tenant"])
    assert client.post("/api/queries/", NAMES, format="json").status_code == 403  # revoked = denied at plan time


def test_requests_need_a_reason_a_scope_and_a_sane_duration(jit_world, slack, smtp) -> None:
    client = token_client(jit_world["requester"], jit_world["tenant"])
    assert_envelope(
        client.post(
            "/api/jit/requests/",
            {
                "dataset": "calls-demo",
                "purpose": "investigation",
                "data_classes": ["P0"],
                "duration_minutes": 30,
                "reason": "short",
            },
            format="json",
        ),
        400,
    )
    body = assert_envelope(
        client.post(
            "/api/jit/requests/",
            {
                "dataset": "calls-demo",
                "purpose": "investigation",
                "data_classes": ["P0"],
                "duration_minutes": 999,
                "reason": "a long enough reason",
            },
            format="json",
        ),
        400,
    )
    assert body["details"]["duration_minutes"]["max"] == 120
    assert_envelope(
        client.post(
            "/api/jit/requests/",
            {
                "dataset": "calls-demo",
                "purpose": "curiosity",
                "data_classes": ["P0"],
                "duration_minutes": 30,
                "reason": "a long enough reason",
            },
            format="json",
        ),
        400,
        "no_jit_rule",
    )
    assert_envelope(
        client.post(
            "/api/jit/requests/",
            {"dataset": "nope", "purpose": "investigation", "duration_minutes": 30, "reason": "a long enough reason"},
            format="json",
        ),
        404,
    )
    assert_envelope(
        client.post("/api/jit/requests/", {"duration_minutes": "x", "reason": 3, "extra": 1}, format="json"), 400
    )


def test_metrics_record_approval_times(jit_world, pending) -> None:
    with tenant_context(jit_world["tenant"]):
        request = AccessRequest.objects.get(pk=pending["id"])
        for who, minutes in (("sup1", 2), ("sup2", 4)):
            services.decide(
                request_id=request.pk,
                approver=jit_world[who],
                decision="approve",
                channel="web",
                now=request.created_at + timedelta(minutes=minutes),
            )
    metrics = token_client(jit_world["admin"], jit_world["tenant"]).get("/api/jit/metrics/").json()
    assert metrics == {"approved": 1, "median_minutes": 4.0, "p90_minutes": 4.0}


def test_inbox_and_request_pages(jit_world, pending, client) -> None:
    client.force_login(jit_world["sup1"])
    inbox = client.get("/jit/inbox/").content.decode()
    assert f"#{pending['id']}" in inbox and "Case 2026-118" in inbox
    client.post(f"/jit/requests/{pending['id']}/approve/")
    detail = client.get(f"/jit/requests/{pending['id']}/").content.decode()
    assert "sup1</strong> approved via Web" in detail and "Notifications" in detail
    client.force_login(jit_world["outsider"])
    assert client.get(f"/jit/requests/{pending['id']}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_approvers_clicking_at_the_same_moment_make_one_grant(jit_world, slack, smtp) -> None:
    import threading

    from django.db import connection

    from tests.conftest import require_service

    require_service(connection.vendor == "postgresql", "row locks need PostgreSQL")
    with tenant_context(jit_world["tenant"]):
        request = services.request_create(
            requester=jit_world["requester"], roles=frozenset({"analyst"}), dataset_slug="calls-demo", data_classes=["P0"],
            purpose="investigation", reason="Case 2026-118: simultaneous approvals", duration_minutes=30,
        )  # fmt: skip
    barrier = threading.Barrier(3)
    errors: list[Exception] = []

    def click(who: str) -> None:
        from django.db import connection as conn

        try:
            barrier.wait()
            with tenant_context(jit_world["tenant"]):
                services.decide(request_id=request.pk, approver=jit_world[who], decision="approve", channel="web")
                services.decide(request_id=request.pk, approver=jit_world[who], decision="approve", channel="web")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=click, args=(w,)) for w in ("sup1", "sup2", "sup1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Approval.all_tenants.filter(request=request).count() == 2
    assert AccessGrant.all_tenants.filter(request=request).count() == 1
    assert AccessRequest.all_tenants.get(pk=request.pk).status == "approved"
    assert errors and all("already" in str(e) for e in errors)  # the duplicate clicks were refused
