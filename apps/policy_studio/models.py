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
