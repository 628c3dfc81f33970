"""Weekly tenant digests: the signed document of each week, its deliveries (the outbox, with
read tracking), per-user preferences and the action items the digests propose."""

from __future__ import annotations

import base64
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property

from apps.core.tenancy import TenantOwnedModel


class DigestImmutableError(RuntimeError):
    """A signed digest is never rewritten; a new week gets a new row."""


class Digest(TenantOwnedModel):
    """One tenant-week: the canonical JSON document, its DSSE envelope (signed with the
    deployment's executor key) and the index of the envelope in the PCQ transparency log."""

    week_start = models.DateField(help_text="Local Monday (tenant time zone) the week starts on.")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    document_sha256 = models.CharField(max_length=64)
    envelope = models.JSONField()
    key_id = models.CharField(max_length=32)
    leaf_index = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week_start"]
        get_latest_by = "week_start"
        constraints = [models.UniqueConstraint(fields=["tenant", "week_start"], name="uniq_digest_week")]

    def __str__(self) -> str:
        return f"digest {self.week_start:%G-W%V}"

    @property
    def week_label(self) -> str:
        return f"{self.week_start:%G-W%V}"

    @cached_property
    def document(self) -> dict[str, Any]:
        """The signed document itself (the envelope's payload): pages and e-mails render what
        was signed, never a second copy that could drift from it."""
        return json.loads(base64.b64decode(self.envelope["payload"]))

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise DigestImmutableError("A signed digest cannot be changed.")
        super().save(*args, **kwargs)


class DigestPreference(TenantOwnedModel):
    """A user's choice for this tenant. No row: tenant admins (the owners) receive the digest,
    everyone else does not."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    subscribed = models.BooleanField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="uniq_digest_preference")]

    def __str__(self) -> str:
        return f"{self.user} {'subscribed' if self.subscribed else 'unsubscribed'}"


class DigestDelivery(TenantOwnedModel):
    """The outbox row for one recipient of one digest. The unique key makes queuing
    idempotent; a conditional UPDATE claims the row so one worker sends it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (retrying)"

    digest = models.ForeignKey(Digest, on_delete=models.PROTECT, related_name="deliveries")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=80, unique=True)
    nonce = models.CharField(max_length=32, unique=True, help_text="Names the row in signed links.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True, help_text="First open of the signed link.")
    image_opened_at = models.DateTimeField(null=True, blank=True, help_text="First load of the tracking image.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["digest", "recipient__username"]

    def __str__(self) -> str:
        return f"{self.digest} → {self.recipient} ({self.status})"


class ActionItem(TenantOwnedModel):
    """Something a digest found that a person should act on; carried into every later
    digest until closed. ``key`` identifies the finding, so the same finding proposed
    again while the item is still open does not make a second item."""

    class Kind(models.TextChoices):
        DENIAL_RISING = "denial_rising", "Rising denial reason"
        ANOMALY_OPEN = "anomaly_open", "Anomaly open too long"
        FIXTURE_EXPIRED = "fixture_expired", "Quarantined fixture past its lifetime"
        QUOTA_NEAR_LIMIT = "quota_near_limit", "Quota near its limit"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    key = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True, help_text="Site-relative page that backs the finding.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    opened_in = models.ForeignKey(Digest, null=True, on_delete=models.PROTECT, related_name="opened_items")
    last_seen_in = models.ForeignKey(Digest, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["status", "due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key"], condition=~Q(status="closed"), name="uniq_open_action_item_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"
