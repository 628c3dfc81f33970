"""Tenancy, membership, API tokens and the append-only audit chain."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .tenancy import TenantOwnedModel, TenantScopedManager


class Tenant(models.Model):
    class Kind(models.TextChoices):
        AGENCY = "agency", "Partner agency"
        SANDBOX = "sandbox", "Sandbox"

    slug = models.SlugField(unique=True, max_length=64)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AGENCY)
    is_active = models.BooleanField(default=True)
    # IANA name; the weekly digest runs on the tenant's local Monday morning.
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    POLICY_AUTHOR = "policy_author", "Policy author"
    APPROVER = "approver", "Approver"
    AUDITOR = "auditor", "Auditor"
    ANALYST = "analyst", "Analyst"
    PARTNER = "partner", "Partner"


class Membership(TenantOwnedModel):
    """One role of one user in one tenant. A user with several roles has several rows."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["user__username", "role"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "role"], name="uniq_membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} @ {self.tenant_id}"


class ApiToken(TenantOwnedModel):
    """A bearer token bound to one user in one tenant. Only its SHA-256 is stored; the
    plaintext is shown once, at creation. The prefix lets people recognise a token."""

    PREFIX = "tf_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class AuditImmutableError(RuntimeError):
    """Audit events are append-only."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AuditImmutableError("Audit events cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError("Audit events cannot be deleted.")


class AuditEvent(TenantOwnedModel):
    """One link of a tenant's hash chain. Written only by ``services.audit_record``, in the
    same transaction as the action it records; refused UPDATE/DELETE by the model layer
    everywhere and by a trigger on PostgreSQL (migration 0002)."""

    seq = models.PositiveBigIntegerField(editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True, db_index=True)
    target_id = models.CharField(max_length=80, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    payload_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = TenantScopedManager.from_queryset(AuditEventQuerySet)()
    all_tenants = models.Manager.from_queryset(AuditEventQuerySet)()

    class Meta:
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="uniq_audit_seq_per_tenant")]
        indexes = [models.Index(fields=["tenant", "target_type", "target_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("Audit events cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditImmutableError("Audit events cannot be deleted.")


class AuditChainCheck(TenantOwnedModel):
    """The result of one walk of a tenant's audit chain (nightly, or on demand)."""

    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    events_checked = models.PositiveIntegerField()
    head_hash = models.CharField(max_length=64)
    first_broken_seq = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-checked_at"]
        get_latest_by = "checked_at"

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'BROKEN'} @ {self.checked_at:%Y-%m-%d %H:%M}"


class AuditHead(TenantOwnedModel):
    """The newest link of a tenant's chain, signed. Rewritten by every append in the same
    transaction (under the tenant row lock), so removing events from the tail leaves a head
    that names an event that no longer exists; forging a head needs the log key, which the
    database does not hold. The note is a C2SP-style signed note (origin
    ``trustfabric.local/audit-head/<tenant id>``, size = seq, root = hash) signed by the log key."""

    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    note = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="uniq_audit_head_per_tenant")]

    def __str__(self) -> str:
        return f"head #{self.seq} of tenant {self.tenant_id}"
