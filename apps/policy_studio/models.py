"""Policies and their immutable versions, and subject attributes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel


class Policy(TenantOwnedModel):
    """A named policy. Each save is a new immutable ``PolicyVersion``; ``active_version`` is
    the one in force (none = the policy is a draft and decides nothing)."""

    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    active_version = models.ForeignKey(
        "PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="uniq_policy_slug")]

    def __str__(self) -> str:
        return self.name


class PolicyVersion(TenantOwnedModel):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField()
    source_hash = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=[("enforce", "enforce"), ("monitor", "monitor")])
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="uniq_policy_version_number")]

    def __str__(self) -> str:
        return f"{self.policy.slug} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Policy versions are immutable; save a new version instead.")
        super().save(*args, **kwargs)


class SubjectAttributes(TenantOwnedModel):
    """Attributes of a user inside a tenant that policies can test (roles come from
    memberships): groups and a numeric clearance."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    groups = models.JSONField(default=list, blank=True)
    clearance = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name_plural = "subject attributes"
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="uniq_subject_attributes")]

    def __str__(self) -> str:
        return f"{self.user} (clearance {self.clearance})"


# --- The lifecycle (docs/studio.md): environments, promotions, gates, drift, events ---------


class Deployment(TenantOwnedModel):
    """The registry, append-only: the latest row per (policy, environment) is what that
    environment should run, since ``created_at``, with the digest it was promoted with."""

    class Kind(models.TextChoices):
        MIGRATION = "migration"  # what was active before environments existed
        DEV = "dev"  # an author put a saved version in force in the first environment
        PROMOTION = "promotion"
        ROLLBACK = "rollback"
        AUTO_MERGE = "auto_merge"

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=32)
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(max_length=64, help_text="sha256 of the version's source when it was registered")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    promotion = models.ForeignKey("PromotionRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["policy", "environment", "-created_at"])]


class PromotionRequest(TenantOwnedModel):
    """Promote ``version`` of ``policy`` from ``source_env`` to ``target_env``: gates run as a
    Celery task (``GateJob``); prod needs a second author's approval."""

    class Status(models.TextChoices):
        GATES = "gates", "gates running"
        FAILED = "failed", "gates failed"
        READY = "ready", "ready (awaiting approval)"
        APPLIED = "applied"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"

    class Kind(models.TextChoices):
        MANUAL = "manual"
        AUTO_MERGE = "auto_merge"

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="promotions")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    base_version = models.ForeignKey(
        PolicyVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="what the target ran",
    )
    source_env = models.CharField(max_length=32)
    target_env = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GATES, db_index=True)
    proposer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    risk = models.CharField(max_length=8, blank=True, help_text="low or review, once the gates ran")
    soak_until = models.DateTimeField(null=True, blank=True)
    objection = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.policy.slug} v{self.version.number} {self.source_env}→{self.target_env}"

    @property
    def needs_approval(self) -> bool:
        from .environments import prod_name

        return self.target_env == prod_name() and self.kind == self.Kind.MANUAL


class GateJob(TenantOwnedModel):
    """One run of a promotion's gates: pending → running → done; ``results`` holds one entry
    per gate {gate, ok, summary, details, insight}."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        ERROR = "error"

    promotion = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    progress = models.JSONField(default=list, blank=True, help_text="gate names finished so far")
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    @property
    def ok(self) -> bool:
        return self.status == self.Status.DONE and all(r["ok"] for r in self.results)


class Drift(TenantOwnedModel):
    """A difference between what an environment runs and what the registry says it should,
    or between a policy and the data it governs."""

    class Kind(models.TextChoices):
        HOTFIX = "hotfix", "activated directly, never promoted"
        DIGEST = "digest", "digest no longer matches the promoted digest"
        UNCLASSIFIED = "unclassified", "dataset attribute no rule classifies"
        COVERAGE = "coverage", "Tier-1 coverage broken by the data"

    class Status(models.TextChoices):
        OPEN = "open"
        MERGING = "merging", "auto-merge soaking"
        RESOLVED = "resolved"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=200, help_text="what is drifting, so a finding is recorded once")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=32, blank=True)
    risk = models.CharField(max_length=8, default="review", help_text="low (provably harmless) or review")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    promotion = models.ForeignKey(PromotionRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-detected_at", "-pk"]


class StudioEvent(TenantOwnedModel):
    """Lifecycle metrics as events: gate_failed, time_to_fix (seconds), rollback, revert,
    drift_detected, drift_auto_merged."""

    name = models.CharField(max_length=32, db_index=True)
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    value = models.FloatField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
