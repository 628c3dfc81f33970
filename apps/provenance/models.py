"""Manifests, verifications, witnessed entries and the transparency log.

Manifests, witnessed entries, log leaves, log nodes and checkpoints are append-only: the
model layer refuses updates and deletes, and on PostgreSQL a trigger does too (migration
0002). The log is global to the deployment (its leaves are hashes of envelopes; nothing in it
names a tenant); which entries a tenant may see is decided through ``WitnessedEntry``."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel


class AppendOnlyMixin:
    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:  # type: ignore[attr-defined]
            raise RuntimeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)  # type: ignore[misc]

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} rows are append-only.")


class Manifest(AppendOnlyMixin, TenantOwnedModel):
    query_run = models.OneToOneField("queries.QueryRun", on_delete=models.PROTECT, related_name="manifest")
    body = models.JSONField()
    digest = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=100)
    executor_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"manifest {self.digest[:12]}"


class Verification(TenantOwnedModel):
    """One verification job for a manifest: attest, replay, compare, then witness and log."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        MATCH = "match", "Match"
        VARIANCE = "variance", "Variance"
        ERROR = "error", "Error"
        ATTESTATION_FAILED = "attestation_failed", "Attestation failed"

    manifest = models.ForeignKey(Manifest, on_delete=models.PROTECT, related_name="verifications")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    message = models.TextField(blank=True)
    diff = models.JSONField(default=dict)
    verifier_evidence = models.JSONField(null=True, blank=True)
    verifier_result = models.JSONField(null=True, blank=True)
    witness_evidence = models.JSONField(null=True, blank=True)
    witness_result = models.JSONField(null=True, blank=True)
    replay_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker took its lease (PCQ_VERIFY_LEASE_SECONDS); also its lease token.",
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Leases taken (more than 1: a worker died).")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"verification {self.pk} ({self.status})"


class WitnessedEntry(AppendOnlyMixin, TenantOwnedModel):
    """The DSSE envelope the verifier and the witness co-signed, and its place in the log."""

    verification = models.OneToOneField(Verification, on_delete=models.PROTECT, related_name="entry")
    envelope = models.JSONField()
    envelope_digest = models.CharField(max_length=64)
    leaf_index = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-leaf_index"]
        verbose_name_plural = "witnessed entries"

    def __str__(self) -> str:
        return f"log entry {self.leaf_index}"


class LogLeaf(AppendOnlyMixin, models.Model):
    index = models.PositiveBigIntegerField(unique=True)
    leaf_hash = models.CharField(max_length=64)
    data = models.TextField(
        blank=True,
        default="",
        help_text="The leaf's own bytes, for small self-describing leaves (audit-head anchors): the log "
        "itself then says what it anchors, even when the rows that explain it are deleted.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return f"leaf {self.index}"


class LogNode(AppendOnlyMixin, models.Model):
    """Hash of the perfect subtree of 2**level leaves starting at leaf position * 2**level."""

    level = models.PositiveSmallIntegerField()
    position = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "position"], name="uniq_log_node")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.position}"


class LogCheckpoint(AppendOnlyMixin, models.Model):
    size = models.PositiveBigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"checkpoint @{self.size}"


class IntegrityReport(AppendOnlyMixin, TenantOwnedModel):
    """One run of ``integrity_verify`` for one tenant: its audit chain (with the signed head),
    the transparency log against every signed checkpoint, every manifest against its signed
    digest, every verdict against its witnessed envelope, the earlier reports against their
    signatures. ``results`` maps each kind to ``{ok, checked, problems, first}``; ``first`` names
    the first problem of that kind. Signed by the verifier key (tenant, time, trigger, outcome
    and results), so an edited or inserted report shows as such wherever it is displayed."""

    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    problems = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict)
    trigger = models.CharField(max_length=16, default="command")
    signature = models.CharField(
        max_length=100, blank=True, default="", help_text="The verifier key's signature (integrity.report_sign)."
    )
    key_id = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"integrity {'ok' if self.ok else 'FAILED'} @ {self.checked_at:%Y-%m-%d %H:%M}"


class AuditHeadAnchor(AppendOnlyMixin, TenantOwnedModel):
    """A tenant's signed audit head, appended to the transparency log (hourly and with every
    integrity run). Once a checkpoint covering it is published, rolling the chain back to
    before ``seq`` — even with an older validly signed head restored — contradicts the log."""

    seq = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    statement = models.JSONField()
    leaf_index = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-leaf_index"]

    def __str__(self) -> str:
        return f"audit head #{self.seq} of tenant {self.tenant_id} at leaf {self.leaf_index}"
