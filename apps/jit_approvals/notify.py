"""The notification outbox: rows are written in the caller's transaction (unique idempotency
keys), a Celery task per row delivers it after commit, retrying Slack and SMTP failures with
backoff; each attempt is recorded and shown on the request's page.

Most rows are about an access request; ``queue_messages`` writes rows that are not (kind
``message``: a subject, text and optional Slack blocks prepared by the caller, e.g. PCQ
on-call pages), delivered, leased, retried and swept the same way."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import smtplib
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from apps.core.tenancy import require_current_tenant

from .models import AccessRequest, ApprovalLink, Notification, NotificationAttempt, SlackIdentity

EMAIL_SALT = "jit.email-action"
logger = logging.getLogger(__name__)


def _queue(notifications: list[Notification]) -> None:
    """After commit, one task per row (Slack rows first: they are the fastest path to a
    decision). Rows whose message is lost in the broker are re-queued by the sweep."""
    from .tasks import deliver

    ids = [(n.tenant_id, n.pk) for n in sorted(notifications, key=lambda n: n.channel != "slack")]

    def send() -> None:
        for tenant_id, nid in ids:
            try:
                deliver.delay(tenant_id, nid)
            except KombuOperationalError:
                # The broker is down: the row is committed and the sweep re-queues it later.
                logger.warning("outbox row %s not queued (broker unavailable); the sweep will", nid)

    if ids:
        transaction.on_commit(send)


def _create_many(rows: list[dict[str, Any]], *, new_request: bool = False) -> list[Notification]:
    """Create the outbox rows whose keys do not exist yet (one query to check, one insert)
    and queue them; a second call with the same keys does nothing. ``new_request``: the
    keys name a request created in this transaction, so none can exist (no check; the
    unique index would still refuse a duplicate)."""
    if not rows:
        return []
    tenant = require_current_tenant()
    keys = [row["idempotency_key"] for row in rows]
    existing: set[str] = set()
    if not new_request:
        existing = set(Notification.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    fresh = [Notification(tenant=tenant, **row) for row in rows if row["idempotency_key"] not in existing]
    created = Notification.objects.bulk_create(fresh)
    _queue(created)
    return created


def _create(key: str, **fields: Any) -> Notification | None:
    """Create the outbox row once; a second call with the same key does nothing."""
    created = _create_many([{"idempotency_key": key, **fields}])
    return created[0] if created else None


def queue_for_approvers(
    request: AccessRequest, approvers: list[AbstractBaseUser], kind: str, *, new_request: bool = False
) -> None:
    """Slack first (it is the fastest path to a decision), then e-mail."""
    rows = _slack_rows(request, approvers, kind) if settings.SLACK_ENABLED else []
    rows += [
        {
            "idempotency_key": f"{request.pk}:{kind}:email:{approver.pk}",
            "request": request,
            "recipient": approver,
            "channel": "email",
            "kind": kind,
        }
        for approver in approvers
        if approver.email
    ]
    _create_many(rows, new_request=new_request)


def _slack_rows(request: AccessRequest, approvers: list[AbstractBaseUser], kind: str) -> list[dict[str, Any]]:
    if settings.SLACK_APPROVALS_MODE == "channel":
        return [
            {
                "idempotency_key": f"{request.pk}:{kind}:slack:channel",
                "request": request,
                "channel": "slack",
                "kind": kind,
                "slack_channel": settings.SLACK_APPROVALS_CHANNEL,
            }
        ]
    linked = verified_slack_ids(approvers)
    return [
        {
            "idempotency_key": f"{request.pk}:{kind}:slack:{approver.pk}",
            "request": request,
            "recipient": approver,
            "channel": "slack",
            "kind": kind,
            "slack_channel": linked[approver.pk],
        }
        for approver in approvers
        if approver.pk in linked
    ]


def verified_slack_ids(users: list[AbstractBaseUser]) -> dict[int, str]:
    """User id -> Slack user id, for the users who verified their Slack account."""
    if all(hasattr(u, "verified_slack_id") for u in users):  # came with the approver set
        return {u.pk: u.verified_slack_id for u in users if u.verified_slack_id}
    return {i.user_id: i.slack_user_id for i in SlackIdentity.objects.filter(user__in=users, verified_at__isnull=False)}


def queue_messages(messages: list[dict[str, Any]]) -> list[Notification]:
    """Outbox rows for messages not about an access request, in the caller's transaction.
    Each has ``key`` (idempotency key: a second call with it does nothing), ``channel``,
    ``recipient`` (a user, for e-mail) or ``slack_channel``, ``subject``, ``text`` and
    optionally Slack ``blocks``. Returns the rows created."""
    return _create_many(
        [
            {
                "idempotency_key": m["key"],
                "recipient": m.get("recipient"),
                "channel": m["channel"],
                "kind": Notification.Kind.MESSAGE,
                "slack_channel": m.get("slack_channel", ""),
                "payload": {
                    "subject": m["subject"][:200],
                    "text": m["text"],
                    "url": m.get("url", ""),
                    "blocks": m.get("blocks") or [],
                },
            }
            for m in messages
        ]
    )


def queue_for_requester(request: AccessRequest, kind: str, payload: dict[str, Any] | None = None) -> None:
    """Tell the requester (decision, expiry notice, revocation): by e-mail, and by Slack DM
    when their Slack account is linked."""
    requester = request.requester
    suffix = request.status
    rows: list[dict[str, Any]] = []
    common = {"request": request, "recipient": requester, "kind": kind, "payload": payload or {}}
    if settings.SLACK_ENABLED:
        slack_id = verified_slack_ids([requester]).get(requester.pk)
        if slack_id:
            key = f"{request.pk}:{kind}:{suffix}:slack:{requester.pk}"
            rows.append({"idempotency_key": key, "channel": "slack", "slack_channel": slack_id, **common})
    if requester.email:
        rows.append(
            {"idempotency_key": f"{request.pk}:{kind}:{suffix}:email:{requester.pk}", "channel": "email", **common}
        )
    _create_many(rows)


def queue_message(*, key: str, recipients: list[AbstractBaseUser], subject: str, text: str, url: str = "") -> None:
    """A plain e-mail notice through this outbox (pilot appeals): one row per recipient with an
    address, keyed ``key:user id`` so a repeat does nothing. The text must carry no selector
    or secret: it is stored in the row's payload."""
    queue_messages(
        [
            {
                "key": f"{key}:{user.pk}"[:200],
                "channel": "email",
                "recipient": user,
                "subject": subject,
                "text": text,
                "url": url,
            }
            for user in {u.pk: u for u in recipients}.values()
            if getattr(user, "email", "")
        ]
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


_clients_lock = threading.Lock()
_slack_clients: dict[tuple[str, str], Any] = {}
_smtp = threading.local()
SLACK_METADATA_EVENT = "trustfabric_notification"


def slack_client() -> Any:
    """One WebClient per process (per token and API URL): it holds no per-call state, and
    building one per message cost more than the call on loopback."""
    from slack_sdk import WebClient

    key = (settings.SLACK_BOT_TOKEN, settings.SLACK_API_URL)
    with _clients_lock:
        client = _slack_clients.get(key)
        if client is None:
            client = _slack_clients[key] = WebClient(token=key[0], base_url=key[1], timeout=10)
        return client


def _mail_connection() -> Any:
    """One open SMTP connection per delivering thread, reused for up to a minute: the
    connect/EHLO/QUIT of a fresh connection per message was most of an e-mail's time."""
    settings_key = (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)
    conn = getattr(_smtp, "conn", None)
    if conn is not None and (_smtp.key != settings_key or time.monotonic() - _smtp.opened > 60):
        _close_mail_connection()
        conn = None
    if conn is None:
        conn = get_connection(fail_silently=False)
        conn.open()
        _smtp.conn, _smtp.key, _smtp.opened = conn, settings_key, time.monotonic()
    return conn


def _close_mail_connection() -> None:
    conn = getattr(_smtp, "conn", None)
    _smtp.conn = None
    if conn is not None:
        with contextlib.suppress(Exception):  # a dead connection is being dropped anyway
            conn.close()


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
    return settings.SITE_URL + reverse("jit-email-action", args=[link_token(link.nonce)])


def link_token(nonce: str, purpose: str = "") -> str:
    """The signed token of an e-mail action link: it names the link row's nonce (the row says
    who may use it, for what, until when, and whether it was). ``purpose`` separates other
    apps' links (e.g. ``pcq-suppression``) from access-request links: a token only resolves
    for the purpose it was made for."""
    data = {"n": nonce, "p": purpose} if purpose else {"n": nonce}
    return signing.dumps(data, salt=EMAIL_SALT, compress=True)


def link_nonce(token: str, purpose: str = "") -> str | None:
    """The nonce a genuine, unexpired (8 days) token of ``purpose`` names, else None."""
    try:
        data = signing.loads(token, salt=EMAIL_SALT, max_age=timedelta(days=8))
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p", "") != purpose or not isinstance(data.get("n"), str):
        return None
    return data["n"]


def _send_email(n: Notification) -> None:
    request = n.request
    context: dict[str, Any] = {
        "request": request,
        "recipient": n.recipient,
        "kind": n.kind,
        "site_url": settings.SITE_URL,
    }
    if n.kind == Notification.Kind.MESSAGE:
        context["message"] = n.payload
        subject = f"[Trust Fabric] {n.payload.get('subject', '')}"
        template = "jit_approvals/email/message"
    elif n.kind in (Notification.Kind.REQUEST, Notification.Kind.REMINDER, Notification.Kind.ESCALATION):
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
    elif n.kind == Notification.Kind.REVOKED:
        context.update(n.payload)
        subject = f"[Trust Fabric] Your access grant for {request.dataset.slug} was revoked"
        template = "jit_approvals/email/grant_revoked"
    else:
        subject = f"[Trust Fabric] Access request #{request.pk}: {request.get_status_display()}"
        template = "jit_approvals/email/decision"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        to=[n.recipient.email],
        headers={"X-TrustFabric-Notification": n.idempotency_key, "Message-ID": _message_id(n)},
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    _send_mail(message)


def _message_id(n: Notification) -> str:
    # The Message-ID follows from the outbox row, so a resend after a lost acknowledgement
    # is recognisably the same message to every mail system downstream.
    return f"<{hashlib.sha256(n.idempotency_key.encode()).hexdigest()[:32]}@trustfabric.notifications>"


def _send_mail(message: EmailMultiAlternatives) -> None:
    try:
        message.connection = _mail_connection()
        message.send(fail_silently=False)
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        # The reused connection went stale: one fresh connection, then let the retry policy work.
        _close_mail_connection()
        message.connection = _mail_connection()
        message.send(fail_silently=False)
    except Exception:
        _close_mail_connection()
        raise


def requester_text(request: AccessRequest, kind: str, payload: dict[str, Any]) -> str:
    """The one-line Slack message to the requester."""
    url = f"{settings.SITE_URL}/jit/requests/{request.pk}/"
    if kind == Notification.Kind.REVOKED:
        return (
            f"Your access grant #{payload.get('grant')} for {request.dataset.slug} was revoked by "
            f"{payload.get('by')}: {payload.get('reason')}. {url}"
        )
    if kind == Notification.Kind.EXPIRING:
        return f"Your access grant for {request.dataset.slug} expires soon. {url}"
    if request.status == AccessRequest.Status.APPROVED:
        return f"Access request #{request.pk} was approved: your access to {request.dataset.slug} is now active. {url}"
    return f"Access request #{request.pk}: {request.get_status_display()}. {url}"


def _send_message(n: Notification) -> None:
    """A ``message`` row: the caller prepared subject, text and blocks."""
    p = n.payload
    if n.channel == "email":
        _send_email(n)  # the message templates: subject, text and link
        return
    metadata = {"event_type": SLACK_METADATA_EVENT, "event_payload": {"key": n.idempotency_key}}
    response = slack_client().chat_postMessage(
        channel=n.slack_channel, text=p["text"], blocks=p.get("blocks") or None, metadata=metadata
    )
    n.slack_channel, n.slack_ts = response["channel"], response["ts"]


def _send_slack(n: Notification) -> None:
    client = slack_client()
    if n.kind == Notification.Kind.SLACK_LINK:
        client.chat_postMessage(
            channel=n.slack_channel,
            text=f"Your Trust Fabric verification code is {n.payload['code']}. It expires in 10 minutes.",
        )
        return
    request = n.request
    # The outbox key travels as message metadata, so a retry after a lost reply can look
    # the message up instead of posting it twice (_slack_find).
    metadata = {"event_type": SLACK_METADATA_EVENT, "event_payload": {"key": n.idempotency_key}}
    if n.kind in (Notification.Kind.REQUEST, Notification.Kind.REMINDER, Notification.Kind.ESCALATION):
        response = client.chat_postMessage(
            channel=n.slack_channel,
            text=f"Access request #{request.pk}",
            blocks=request_blocks(request, n.kind),
            metadata=metadata,
        )
    else:
        response = client.chat_postMessage(
            channel=n.slack_channel, text=requester_text(request, n.kind, n.payload), metadata=metadata
        )
    n.slack_channel, n.slack_ts = response["channel"], response["ts"]


def _slack_find(n: Notification) -> tuple[str, str] | None:
    """(channel, ts) of the message this row already posted, if an earlier attempt got
    through before its worker died; looked up by the metadata the message carries."""
    client = slack_client()
    channel = n.slack_channel
    if channel[:1] in ("U", "W"):  # a DM: history is kept under the conversation's id
        channel = client.conversations_open(users=channel)["channel"]["id"]
    oldest = f"{n.created_at.timestamp() - 1:.6f}"
    history = client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True, limit=200)
    for message in history.get("messages", []):
        meta = message.get("metadata") or {}
        if meta.get("event_type") == SLACK_METADATA_EVENT and meta.get("event_payload", {}).get("key") == (
            n.idempotency_key
        ):
            return channel, message["ts"]
    return None


def _claim(n: Notification) -> tuple[str, bool] | None:
    """Claim the row for one attempt with a conditional UPDATE: pending or failed rows, or a
    ``sending`` row whose lease expired (its worker died). Returns (claim token, whether an
    earlier attempt's outcome is unknown), or None when another worker holds it or it is sent."""
    now = timezone.now()
    uncertain = n.status == Notification.Status.SENDING
    if uncertain and (n.lease_expires_at is None or n.lease_expires_at > now):
        return None
    if n.status == Notification.Status.SENT:
        return None
    token = secrets.token_hex(16)
    claimed = Notification.objects.filter(pk=n.pk, status=n.status, claim_token=n.claim_token).update(
        status=Notification.Status.SENDING,
        claim_token=token,
        lease_expires_at=now + timedelta(seconds=settings.JIT_OUTBOX_LEASE_SECONDS),
        attempts=F("attempts") + 1,
    )
    return (token, uncertain) if claimed else None


def deliver(notification_id: int) -> str:
    """Send one outbox row. Returns its status; raises on a retryable failure (the task retries).

    At most one worker holds a row (a lease, see :func:`_claim`). A worker that dies
    mid-send leaves the lease to expire; the next claim of that row first asks Slack whether
    the message went out (by its metadata) and only posts it if not. SMTP has no such
    question: the resend carries the same Message-ID."""
    n = Notification.objects.select_related("request__dataset", "request__requester", "recipient").get(
        pk=notification_id
    )
    if n.status == Notification.Status.SENT:
        return "sent"
    claim = _claim(n)
    if claim is None:
        return Notification.objects.filter(pk=n.pk).values_list("status", flat=True).first() or "gone"
    token, uncertain = claim
    started = time.perf_counter()
    reconciled = False
    try:
        if uncertain and n.channel == "slack" and n.kind != Notification.Kind.SLACK_LINK:
            try:
                found = _slack_find(n)
            except Exception as exc:  # noqa: BLE001 - e.g. the app lacks a history scope
                # Cannot ask Slack: post again rather than never (at least once, not at most once).
                logger.warning("could not check Slack for an interrupted post (%s); posting again", type(exc).__name__)
                found = None
            if found is not None:
                (n.slack_channel, n.slack_ts), reconciled = found, True
        if not reconciled and n.kind == Notification.Kind.MESSAGE:
            _send_message(n)
        elif not reconciled:
            (_send_slack if n.channel == "slack" else _send_email)(n)
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        NotificationAttempt.objects.create(
            notification=n, ok=False, error=error, duration_ms=(time.perf_counter() - started) * 1000
        )
        Notification.objects.filter(pk=n.pk, claim_token=token).update(
            status=Notification.Status.FAILED, last_error=error, lease_expires_at=None
        )
        raise
    NotificationAttempt.objects.create(
        notification=n,
        ok=True,
        error="already delivered by an interrupted attempt; not sent again" if reconciled else "",
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    Notification.objects.filter(pk=n.pk, claim_token=token).update(
        status=Notification.Status.SENT,
        sent_at=timezone.now(),
        last_error="",
        lease_expires_at=None,
        slack_channel=n.slack_channel,
        slack_ts=n.slack_ts,
    )
    return "sent"


def stale_outbox(now: datetime | None = None) -> list[tuple[int, int]]:
    """(tenant id, row id) of outbox rows whose delivery was lost, in every tenant: a
    ``sending`` row whose lease expired (its worker died), or a pending or failed row not
    touched for ``JIT_OUTBOX_STALE_SECONDS`` (its broker message was lost). Retries that
    ran out stay failed, for an operator (runbooks/jit.md)."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.JIT_OUTBOX_STALE_SECONDS)
    expired = Q(status=Notification.Status.SENDING, lease_expires_at__lte=now)
    forgotten = Q(status=Notification.Status.PENDING, created_at__lte=stale_before) | Q(
        status=Notification.Status.FAILED, attempts__lt=settings.JIT_OUTBOX_MAX_ATTEMPTS
    ) & ~Exists(NotificationAttempt.all_tenants.filter(notification=OuterRef("pk"), at__gt=stale_before))
    rows = Notification.all_tenants.filter(expired | forgotten).values_list("tenant_id", "pk")
    return list(rows[:1000])


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
    nonce = link_nonce(token)
    if nonce is None:
        return None
    return (
        ApprovalLink.all_tenants.select_related("tenant", "request__dataset", "request__requester", "approver")
        .filter(nonce=nonce)
        .first()
    )
