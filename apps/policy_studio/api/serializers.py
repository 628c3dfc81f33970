from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.api.base import StrictSerializer

from ..denials import subject_decision
from ..models import Decision, Policy, PolicyVersion, QueryRun


class PolicyVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = PolicyVersion
        fields = ["number", "mode", "source", "source_hash", "note", "created_by", "created_at"]


class PolicySerializer(serializers.ModelSerializer):
    active_version = serializers.IntegerField(source="active_version.number", allow_null=True, read_only=True)
    versions = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = ["slug", "name", "active_version", "versions", "created_at"]

    def get_versions(self, policy: Policy) -> list[dict]:
        return [
            {"number": v.number, "mode": v.mode, "note": v.note, "created_at": v.created_at}
            for v in policy.versions.order_by("-number")
        ]


class PolicySaveSerializer(StrictSerializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, default="")
    source = serializers.CharField(max_length=200_000, trim_whitespace=False)
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    activate = serializers.BooleanField(required=False, default=False)


class PolicySourceSerializer(StrictSerializer):
    source = serializers.CharField(max_length=200_000, trim_whitespace=False, allow_blank=True)


class ActivateSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1)


class DecisionSerializer(serializers.ModelSerializer):
    policy = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = ["id", "policy", "mode", "outcome", "stage", "reason_codes", "explanation", "violations", "timing_us"]

    def get_policy(self, d: Decision) -> str | None:
        return f"{d.policy_version.policy.slug} v{d.policy_version.number}" if d.policy_version else None

    def to_representation(self, instance: Decision) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("overseer"):
            # The subject reads code, limit and "more than the limit"; the witness is the auditor's.
            data.update(subject_decision(instance))
        return data


class QueryRunSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    dataset = serializers.CharField(source="dataset_version.dataset.slug", read_only=True)
    dataset_version = serializers.IntegerField(source="dataset_version.number", read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta:
        model = QueryRun
        fields = [
            "id",
            "user",
            "dataset",
            "dataset_version",
            "spec",
            "status",
            "reason_codes",
            "explanation",
            "result",
            "result_digest",
            "minimization",
            "lac_overhead_us",
            "execution_ms",
            "audit_seq",
            "created_at",
            "decisions",
        ]


class ProvChainSerializer(StrictSerializer):
    """The ``prov`` member of POST /api/queries/ (the rest of the body is the query spec)."""

    prov = serializers.CharField(max_length=50_000, trim_whitespace=False)


class SimulationRequestSerializer(StrictSerializer):
    policy = serializers.SlugField()
    version_a = serializers.IntegerField(min_value=1)
    version_b = serializers.IntegerField(min_value=1)
    dataset = serializers.SlugField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50_000, default=5000)
