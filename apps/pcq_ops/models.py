"""PCQ operations: replay fixtures and their goldens, fixture runs, quarantine, replay
sampling rates, anomalies with their lineage, suppression rules and on-call pages.

Anomalies are never deleted or edited except for the page they joined; a suppressed anomaly
is recorded and counted like any other (``suppressed_by``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TenantOwnedModel

from . import rules


class ReplayFixture(TenantOwnedModel):
    """A generated replay case (shape, size, seed, metric under a pinned generator version)
    and its golden: the output digest of every transform, recorded when it was generated."""

    name = models.SlugField(max_length=80)
    shape = models.CharField(max_length=16)
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    metric = models.CharField(max_length=32, default="pagerank")
    generator_version = models.CharField(max_length=32)
    nondeterministic_step = models.CharField(max_length=16, blank=True)
    golden = models.JSONField(help_text="{steps: {transform: digest}, outputs, digest}")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_replay_fixture_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def quarantined(self) -> bool:
        return self.quarantines.filter(released_at__isnull=True).exists()


class FixtureRun(TenantOwnedModel):
    class Outcome(models.TextChoices):
        PASS = "pass", "Pass"
        DRIFT = "drift", "Golden drift"
        FLAKY = "flaky", "Flaky"
        ERROR = "error", "Error"

    fixture = models.ForeignKey(ReplayFixture, on_delete=models.CASCADE, related_name="runs")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, db_index=True)
    steps = models.JSONField(default=dict)
    reruns = models.PositiveSmallIntegerField(default=0)
    flaky_rate = models.FloatField(default=0.0, help_text="Share of reruns whose outcome differed from the first.")
    varying_step = models.CharField(max_length=16, blank=True)
    gating = models.BooleanField(default=True, help_text="False while the fixture is quarantined.")
    trigger = models.CharField(max_length=16, default="command")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.fixture_id}: {self.outcome}"


class Quarantine(TenantOwnedModel):
    """A flaky fixture keeps running and reporting but stops gating. It has an owner, a
    reason and a deadline; past the deadline it is escalated (never silently lapsed); it is
    released only after K clean runs in a row."""

    fixture = models.ForeignKey(ReplayFixture, on_delete=models.CASCADE, related_name="quarantines")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField()
    varying_step = models.CharField(max_length=16, blank=True)
    flaky_rate = models.FloatField(default=0.0)
    opened_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    clean_runs = models.PositiveSmallIntegerField(default=0)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["fixture"], condition=models.Q(released_at__isnull=True), name="one_open_quarantine"
            )
        ]

    def __str__(self) -> str:
        return f"quarantine of {self.fixture_id}"


class ReplaySampling(TenantOwnedModel):
    """The share of production queries replayed, per tenant (dataset empty) or per dataset."""

    dataset = models.ForeignKey("graphs.Dataset", null=True, blank=True, on_delete=models.CASCADE)
    rate = models.FloatField(help_text="0..1")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dataset"], name="uniq_replay_sampling"),
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(dataset__isnull=True), name="uniq_replay_sampling_default"
            ),
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lte=1), name="replay_rate_0_1"),
        ]


class RunLineage(TenantOwnedModel):
    """The lineage of one replay (a fixture run or a production verification), good or not:
    what "changed since the last good run" is computed against."""

    subject = models.CharField(max_length=160, db_index=True, help_text="fixture:<name> or query:<dataset>:<metric>")
    good = models.BooleanField()
    lineage = models.JSONField()
    verification = models.OneToOneField(
        "provenance.Verification", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    fixture_run = models.OneToOneField(FixtureRun, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class SuppressionRule(TenantOwnedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    matchers = models.JSONField()
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approved_by = models.JSONField(default=list, help_text="User ids who approved (never the creator).")
    breadth = models.JSONField(default=dict, help_text="The breadth guard's verdict at creation.")
    created_at = models.DateTimeField(default=timezone.now)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"suppression {self.pk} ({self.status})"


class SuppressionLink(TenantOwnedModel):
    """A signed, single-use, approver-bound e-mail link that approves one suppression rule
    (the JIT e-mail link machinery: ``notify.link_token`` over this row's nonce)."""

    rule = models.ForeignKey(SuppressionRule, on_delete=models.CASCADE, related_name="links")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"approval link for suppression {self.rule_id}"


class OnCallPage(TenantOwnedModel):
    """One page to the tenant's on-call: a burst of anomalies with the same root is one page."""

    group_key = models.CharField(max_length=255, db_index=True)
    severity = models.CharField(max_length=8)
    title = models.CharField(max_length=255)
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)
    recipients = models.JSONField(default=list)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Anomaly(TenantOwnedModel):
    kind = models.CharField(max_length=20, choices=[(k, k) for k in rules.KINDS], db_index=True)
    severity = models.CharField(max_length=8, choices=[(s, s) for s in rules.SEVERITIES], db_index=True)
    message = models.TextField()
    fixture = models.ForeignKey(ReplayFixture, null=True, blank=True, on_delete=models.SET_NULL)
    verification = models.ForeignKey("provenance.Verification", null=True, blank=True, on_delete=models.PROTECT)
    dataset = models.CharField(max_length=80, blank=True, db_index=True)
    transform = models.CharField(max_length=32, blank=True)
    metric = models.CharField(max_length=32, blank=True)
    delta = models.FloatField(null=True, blank=True)
    lineage = models.JSONField(default=dict, help_text="Node -> {value, label} of this run.")
    last_good = models.JSONField(null=True, blank=True, help_text="The same nodes at the last good run.")
    changed = models.JSONField(default=list, help_text="Lineage nodes that differ from the last good run.")
    root_kind = models.CharField(max_length=12, choices=[(r, r) for r in rules.ROOT_KINDS], db_index=True)
    root = models.CharField(max_length=255, blank=True, help_text="e.g. 'policy investigations v7'")
    suppressed_by = models.ForeignKey(SuppressionRule, null=True, blank=True, on_delete=models.PROTECT)
    page = models.ForeignKey(OnCallPage, null=True, blank=True, on_delete=models.PROTECT, related_name="anomalies")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "anomalies"

    def __str__(self) -> str:
        return f"{self.kind} ({self.severity})"

    def as_match(self) -> dict[str, object]:
        """The fields suppression matchers and page grouping look at."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "dataset": self.dataset,
            "transform": self.transform,
            "metric": self.metric,
            "fixture": self.fixture.name if self.fixture_id else "",
            "root_kind": self.root_kind,
            "root": self.root,
            "delta": self.delta,
        }
