from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.api.base import StrictSerializer

from ..denials import subject_decision
from ..models import Decision, QueryRun


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
            "environment",
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
