"""Query runs and the decisions taken on them (the tables keep their policy_studio names)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel

# Audit events about a query run keep the target type they have always had.
QUERY_RUN_AUDIT_TARGET = "policy_studio.queryrun"


class QueryRun(TenantOwnedModel):
    class Status(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        ALLOWED_MONITOR = "allowed_monitor", "Allowed (monitor mode would deny)"
        DENIED = "denied", "Denied"
        FAILED = "failed", "Failed (stored and audited; nothing returned)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    spec = models.JSONField()
    dataset_version = models.ForeignKey("graphs.DatasetVersion", on_delete=models.PROTECT, related_name="+")
    view = models.ForeignKey("graphs.GraphView", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    reason_codes = models.JSONField(default=list)
    explanation = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    result_digest = models.CharField(max_length=64, blank=True)
    minimization = models.JSONField(default=list)
    returned_nodes = models.JSONField(default=list)
    # What the answer revealed (nodes and edges, engine.Execution.revealed_*): the subject's
    # exposure, kept per run so the 24-hour cumulative checks can union it across queries,
    # views and versions of a dataset.
    exposure = models.JSONField(default=dict, blank=True)
    facts = models.JSONField(default=dict, help_text="Masked inputs and observations, for the simulator.")
    lac_overhead_us = models.PositiveIntegerField(default=0)
    execution_ms = models.FloatField(default=0)
    audit_seq = models.PositiveBigIntegerField(null=True, blank=True)
    # The just-in-time grant the query ran under (apps.jit_approvals.AccessGrant id), and,
    # for a JIT_REQUIRED denial, the policy's JIT rule a request would go through.
    jit_grant_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    jit_rule = models.CharField(max_length=64, blank=True)
    environment = models.CharField(
        max_length=32, default="prod", help_text="the Studio environment whose policies decided it"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "policy_studio_queryrun"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "user", "dataset_version", "created_at"])]

    def __str__(self) -> str:
        return f"query #{self.pk} ({self.status})"

    @property
    def blocked(self) -> bool:
        return self.status == self.Status.DENIED


class Decision(TenantOwnedModel):
    """One policy version's decision on one query run."""

    query_run = models.ForeignKey(QueryRun, on_delete=models.PROTECT, related_name="decisions")
    policy_version = models.ForeignKey(
        "policy_studio.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(max_length=8)
    outcome = models.CharField(max_length=5, choices=[("allow", "allow"), ("deny", "deny")])
    stage = models.CharField(max_length=8, help_text="access, plan or result: where the outcome was settled")
    reason_codes = models.JSONField(default=list)
    explanation = models.TextField()
    violations = models.JSONField(default=list)
    timing_us = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "policy_studio_decision"
        ordering = ["query_run", "id"]

    def __str__(self) -> str:
        return f"{self.outcome} by {self.policy_version_id} ({self.mode})"
