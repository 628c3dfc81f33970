"""Appeals and pilot documents. Both are shared by the two tenants of a partner pair, so (like
ZK-TX sessions) the shared row has no tenant key and is reached only through each tenant's own
party row (tenant-scoped): a tenant that is not a party gets a 404. Operators (superusers) read
the shared rows for their queue."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel


class Appeal(models.Model):
    class Subject(models.TextChoices):
        VERDICT = "verdict", "A session's verdict"
        REFUSAL = "refusal", "A refusal"
        QUOTA = "quota", "A quota decision"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Decided: the original decision stands"
        OVERTURNED = "overturned", "Decided: overturned"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.CharField(max_length=10, choices=Subject.choices)
    session_id = models.UUIDField(null=True, blank=True, help_text="The ZK-TX session appealed, if any.")
    decision_code = models.CharField(
        max_length=80, blank=True, help_text="The refusal code or quota name appealed (as the 4xx answer named it)."
    )
    audit_seq = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The appellant's audit event recording the refusal or quota decision."
    )
    reason = models.TextField()
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    remind_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="The SLA: decided by then, or escalated.")
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"appeal {self.public_id} ({self.status})"


class AppealParty(TenantOwnedModel):
    class Role(models.TextChoices):
        APPELLANT = "appellant", "Appellant"
        PARTNER = "partner", "Partner"

    appeal = models.ForeignKey(Appeal, on_delete=models.PROTECT, related_name="parties")
    role = models.CharField(max_length=9, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appeal", "role"], name="one_appeal_party_per_role"),
            models.UniqueConstraint(fields=["appeal", "tenant"], name="one_appeal_party_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.role} of {self.appeal_id}"


class PilotDocument(models.Model):
    """A pilot checklist or agreement (MOU) between two tenants. Immutable once created (a
    change is a new document), so both sides' signatures cover the same ``content_digest``."""

    class Kind(models.TextChoices):
        CHECKLIST = "checklist", "Pilot checklist"
        MOU = "mou", "Pilot agreement (MOU)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=9, choices=Kind.choices)
    title = models.CharField(max_length=200)
    scope = models.TextField()
    items = models.JSONField(default=list, blank=True, help_text="Checklist items (text), in order.")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    content_digest = models.CharField(max_length=64, help_text="SHA-256 of the canonical content both sides sign.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.title!r}"


class DocumentParty(TenantOwnedModel):
    """One side of a pilot document and, once its admin signed, that signature."""

    class Role(models.TextChoices):
        A = "A", "Proposer"
        B = "B", "Partner"

    class Method(models.TextChoices):
        TENANT_KEY = "tenant_key", "Signed with the tenant's long-term key"
        APPROVAL = "approval", "Recorded approval in the app"

    document = models.ForeignKey(PilotDocument, on_delete=models.PROTECT, related_name="parties")
    role = models.CharField(max_length=1, choices=Role.choices)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signatory_title = models.CharField(max_length=120, blank=True)
    method = models.CharField(max_length=10, choices=Method.choices, blank=True)
    key_fingerprint = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=100, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "role"], name="one_document_party_per_role"),
            models.UniqueConstraint(fields=["document", "tenant"], name="one_document_party_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.role} of {self.document_id}"
