"""The notification outbox: rows are written in the caller's transaction (unique idempotency
keys), a Celery task per row delivers it after commit, retrying Slack and SMTP failures with
backoff; each attempt is recorded and shown on the request's page."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import AccessRequest, ApprovalLink, Notification, NotificationAttempt, SlackIdentity

EMAIL_SALT = "jit.email-action"


def _queue(notification: Notification) -> None:
    from .tasks import deliver

    tenant_id, nid = notification.tenant_id, notification.pk
    transaction.on_commit(lambda: deliver.delay(tenant_id, nid))


def _create(key: str, **fields: Any) -> Notification | None:
    """Create the outbox row once; a second call with the same key does nothing."""
    existing = Notification.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return None
    notification = Notification.objects.create(idempotency_key=key, **fields)
    _queue(notification)
    return notification


def queue_for_approvers(request: AccessRequest, approvers: list[AbstractBaseUser], kind: str) -> None:
    """Slack first (it is the fastest path to a decision), then e-mail."""
    if settings.SLACK_ENABLED:
        _queue_slack(request, approvers, kind)
    for approver in approvers:
        if approver.email:
            _create(
                f"{request.pk}:{kind}:email:{approver.pk}",
                request=request,
                recipient=approver,
                channel="email",
                kind=kind,
            )


def _queue_slack(request: AccessRequest, approvers: list[AbstractBaseUser], kind: str) -> None:
    if settings.SLACK_APPROVALS_MODE == "channel":
        _create(
            f"{request.pk}:{kind}:slack:channel",
            request=request,
            channel="slack",
            kind=kind,
            slack_channel=settings.SLACK_APPROVALS_CHANNEL,
        )
        return
    linked = {
        i.user_id: i.slack_user_id for i in SlackIdentity.objects.filter(user__in=approvers, verified_at__isnull=False)
    }
    for approver in approvers:
        if approver.pk in linked:
            _create(
                f"{request.pk}:{kind}:slack:{approver.pk}",
                request=request,
                recipient=approver,
                channel="slack",
                kind=kind,
                slack_channel=linked[approver.pk],
            )


def queue_for_requester(request: AccessRequest, kind: str) -> None:
    requester = request.requester
    suffix = request.status
    if requester.email:
        _create(
            f"{request.pk}:{kind}:{suffix}:email:{requester.pk}",
            request=request,
            recipient=requester,
            channel="email",
            kind=kind,
        )


def queue_slack_link_code(identity: SlackIdentity, code: str) -> None:
    if not settings.SLACK_ENABLED:
        return
    _create(
        f"slack-link:{identity.pk}:{secrets.token_hex(8)}",
        recipient=identity.user,
        channel="slack",
        kind=Notification.Kind.SLACK_LINK,
        slack_channel=identity.slack_user_id,
        payload={"code": code},
    )


# --- Delivery -----------------------------------------------------------------------------------


def slack_client() -> Any:
    from slack_sdk import WebClient

    return WebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=10)


def request_blocks(request: AccessRequest, kind: str) -> list[dict[str, Any]]:
    title = {
        "request": "Access request",
        "reminder": "Reminder: access request waiting",
        "escalation": "Escalated: access request waiting",
    }.get(kind, "Access request")
    url = settings.SITE_URL + reverse("jit-request-detail", args=[request.pk])
    facts = (
        f"*{request.requester.get_username()}* asks for *{', '.join(request.data_classes)}* data in *{request.dataset.slug}* "
        f"for *{request.purpose}*, {request.duration_minutes} min.\n>{request.reason}\n"
        f"Needs {request.approvals_required} approver(s); decide before {request.deadline_at:%Y-%m-%d %H:%M} UTC."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{title} #{request.pk}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
    ]
    if request.high_risk:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"High-risk scope: approve in the web UI — <{url}|open request>"}
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": f"jit-{request.pk}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "jit_approve",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": str(request.pk),
                },
                {
                    "type": "button",
                    "action_id": "jit_deny",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": str(request.pk),
                },
            ],
        }
    )
    return blocks


def decided_blocks(request: AccessRequest, who: str, decision: str) -> list[dict[str, Any]]:
    state = {"approve": "approved", "deny": "denied"}.get(decision, decision)
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"Access request #{request.pk} for {request.dataset.slug}: *{state}* by {who}. Status: {request.get_status_display()}.",
            },
        }
    ]


def _email_link(request: AccessRequest, approver: AbstractBaseUser, action: str) -> str:
    link = ApprovalLink.objects.create(
        request=request, approver=approver, action=action, nonce=secrets.token_hex(16), expires_at=request.deadline_at
    )
    token = signing.dumps({"n": link.nonce}, salt=EMAIL_SALT, compress=True)
    return settings.SITE_URL + reverse("jit-email-action", args=[token])


def _send_email(n: Notification) -> None:
    request = n.request
    context: dict[str, Any] = {
        "request": request,
        "recipient": n.recipient,
        "kind": n.kind,
        "site_url": settings.SITE_URL,
    }
    if n.kind in (Notification.Kind.REQUEST, Notification.Kind.REMINDER, Notification.Kind.ESCALATION):
        # Links are created once per notification row; retries resend the same URLs.
        links = n.payload.get("links")
        if not links:
            links = {a: _email_link(request, n.recipient, a) for a in ("approve", "deny")}
            n.payload = {"links": links}
            n.save(update_fields=["payload"])
        context["links"] = links
        subject = f"[Trust Fabric] {n.get_kind_display()} #{request.pk}: {request.requester.get_username()} → {request.dataset.slug}"
        template = "jit_approvals/email/approval_request"
    elif n.kind == Notification.Kind.EXPIRING:
        subject = f"[Trust Fabric] Your access grant for {request.dataset.slug} expires soon"
        template = "jit_approvals/email/grant_expiring"
    else:
        subject = f"[Trust Fabric] Access request #{request.pk}: {request.get_status_display()}"
        template = "jit_approvals/email/decision"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        to=[n.recipient.email],
        headers={"X-TrustFabric-Notification": n.idempotency_key},
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.send(fail_silently=False)


def _send_slack(n: Notification) -> None:
    client = slack_client()
    if n.kind == Notification.Kind.SLACK_LINK:
        client.chat_postMessage(
            channel=n.slack_channel,
            text=f"Your Trust Fabric verification code is {n.payload['code']}. It expires in 10 minutes.",
        )
        return
    request = n.request
    if n.kind in (Notification.Kind.REQUEST, Notification.Kind.REMINDER, Notification.Kind.ESCALATION):
        response = client.chat_postMessage(
            channel=n.slack_channel, text=f"Access request #{request.pk}", blocks=request_blocks(request, n.kind)
        )
        n.slack_channel, n.slack_ts = response["channel"], response["ts"]
    else:
        client.chat_postMessage(
            channel=n.slack_channel, text=f"Access request #{request.pk}: {request.get_status_display()}"
        )


def deliver(notification_id: int) -> str:
    """Send one outbox row. Returns its status; raises on a retryable failure (the task retries)."""
    n = Notification.objects.select_related("request__dataset", "request__requester", "recipient").get(
        pk=notification_id
    )
    if n.status == "sent":
        return "sent"
    started = time.perf_counter()
    Notification.objects.filter(pk=n.pk).update(attempts=n.attempts + 1)
    try:
        (_send_slack if n.channel == "slack" else _send_email)(n)
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        NotificationAttempt.objects.create(
            notification=n, ok=False, error=error, duration_ms=(time.perf_counter() - started) * 1000
        )
        Notification.objects.filter(pk=n.pk).update(status="failed", last_error=error)
        raise
    NotificationAttempt.objects.create(notification=n, ok=True, duration_ms=(time.perf_counter() - started) * 1000)
    Notification.objects.filter(pk=n.pk).update(
        status="sent", sent_at=timezone.now(), last_error="", slack_channel=n.slack_channel, slack_ts=n.slack_ts
    )
    return "sent"


def update_slack_message(request: AccessRequest, who: str, decision: str) -> None:
    """After a decision, replace the buttons on every Slack message about the request."""
    if not settings.SLACK_ENABLED:
        return
    client = slack_client()
    for n in Notification.objects.filter(request=request, channel="slack", status="sent").exclude(slack_ts=""):
        client.chat_update(
            channel=n.slack_channel,
            ts=n.slack_ts,
            text=f"Access request #{request.pk}: {decision}",
            blocks=decided_blocks(request, who, decision),
        )


def link_from_token(token: str) -> ApprovalLink | None:
    """The link row a token names, across tenants (the token is the only credential here)."""
    try:
        data = signing.loads(token, salt=EMAIL_SALT, max_age=timedelta(days=8))
    except signing.BadSignature:
        return None
    return (
        ApprovalLink.all_tenants.select_related("tenant", "request__dataset", "request__requester", "approver")
        .filter(nonce=data.get("n", ""))
        .first()
    )
