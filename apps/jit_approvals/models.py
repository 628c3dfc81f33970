"""Access requests, approvals, grants, the notification outbox, e-mail action links and
verified Slack identities."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel


class AccessRequest(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        EXPIRED = "expired", "Expired (no decision in time)"
        CANCELLED = "cancelled", "Cancelled"

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    policy_version = models.ForeignKey("policy_studio.PolicyVersion", on_delete=models.PROTECT, related_name="+")
    rule_id = models.CharField(max_length=64)
    dataset = models.ForeignKey("graphs.Dataset", on_delete=models.PROTECT, related_name="+")
    data_classes = models.JSONField()
    purpose = models.CharField(max_length=64)
    reason = models.TextField()
    reason_sha256 = models.CharField(max_length=64)
    duration_minutes = models.PositiveIntegerField()
    approvals_required = models.PositiveSmallIntegerField()
    approver_groups = models.JSONField(default=list)
    fallback_groups = models.JSONField(default=list)
    high_risk = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    remind_at = models.DateTimeField()
    escalate_at = models.DateTimeField()
    deadline_at = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    source_run_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The denied query that led here.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"request #{self.pk} ({self.status})"


class Approval(TenantOwnedModel):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        DENY = "deny", "Deny"

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        SLACK = "slack", "Slack"
        EMAIL = "email", "E-mail"
        API = "api", "API"

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=7, choices=Decision.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    comment = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"], name="one_decision_per_approver")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} via {self.channel}"


class AccessGrant(TenantOwnedModel):
    """Time-boxed access. The clock starts at approval; expiry is checked at plan time."""

    request = models.OneToOneField(AccessRequest, on_delete=models.PROTECT, related_name="grant")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rule_id = models.CharField(max_length=64)
    dataset = models.ForeignKey("graphs.Dataset", on_delete=models.PROTECT, related_name="+")
    data_classes = models.JSONField()
    purpose = models.CharField(max_length=64)
    reason_sha256 = models.CharField(max_length=64)
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expiry_noticed_at = models.DateTimeField(null=True, blank=True)
    expired_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return f"grant #{self.pk}"


class Notification(TenantOwnedModel):
    """One message to one recipient on one channel: the outbox row a Celery task delivers.
    ``idempotency_key`` is unique, so re-queuing can never produce a second message.

    Status: ``pending`` (queued) → ``sending`` (claimed by one worker until
    ``lease_expires_at``) → ``sent``; ``failed`` when an attempt failed and a retry is
    scheduled. A worker killed while ``sending`` leaves an expired lease, which the beat
    sweep re-queues; the next claim first checks whether the lost attempt got through."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"

    class Channel(models.TextChoices):
        SLACK = "slack", "Slack"
        EMAIL = "email", "E-mail"

    class Kind(models.TextChoices):
        REQUEST = "request", "Approval request"
        REMINDER = "reminder", "Reminder"
        ESCALATION = "escalation", "Escalation"
        DECISION = "decision", "Decision"
        EXPIRING = "expiring", "Grant expiring"
        SLACK_LINK = "slack_link", "Slack link code"
        MESSAGE = "message", "Message (not about a request, e.g. a PCQ page)"

    request = models.ForeignKey(
        AccessRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    slack_channel = models.CharField(max_length=40, blank=True)
    slack_ts = models.CharField(max_length=40, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} to {self.recipient_id} ({self.status})"


class NotificationAttempt(TenantOwnedModel):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"attempt {'ok' if self.ok else 'failed'}"


class ApprovalLink(TenantOwnedModel):
    """A signed, single-use, approver-bound e-mail action. The URL carries a signature over
    this row's nonce; the row says who may use it, for what, until when, and whether it was."""

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="links")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=7, choices=Approval.Decision.choices)
    nonce = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action} link for request {self.request_id}"


class SlackIdentity(TenantOwnedModel):
    """A platform user's Slack account, linked only after the user entered a code we sent to
    that Slack account (so a Slack click maps to a person we verified)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    slack_user_id = models.CharField(max_length=40)
    code_sha256 = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="one_slack_identity_per_user"),
            models.UniqueConstraint(fields=["tenant", "slack_user_id"], name="one_user_per_slack_id"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ↔ {self.slack_user_id}"
