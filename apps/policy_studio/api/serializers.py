from __future__ import annotations

from rest_framework import serializers

from apps.core.api.base import StrictSerializer

from ..models import Policy, PolicyVersion


class PolicyVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = PolicyVersion
        fields = ["number", "mode", "source", "source_hash", "note", "created_by", "created_at"]


class PolicySerializer(serializers.ModelSerializer):
    active_version = serializers.IntegerField(source="active_version.number", allow_null=True, read_only=True)
    versions = serializers.SerializerMethodField()
    environments = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = ["slug", "name", "active_version", "environments", "versions", "created_at"]

    def get_environments(self, policy: Policy) -> list[dict]:
        """Per environment: the registered version (since, digest) and the running one."""
        from ..environments import environment_rows

        return [
            {
                "name": row.name,
                "registered": row.registered.version.number if row.registered else None,
                "since": row.registered.created_at if row.registered else None,
                "promoted_digest": row.registered.digest if row.registered else None,
                "running": row.running.number if row.running else None,
                "in_sync": row.in_sync,
            }
            for row in environment_rows(policy)
        ]

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


class PolicyLintSerializer(StrictSerializer):
    source = serializers.CharField(max_length=200_000, trim_whitespace=False, allow_blank=True)
    datasets = serializers.ListField(child=serializers.SlugField(), required=False, max_length=100)
    policy = serializers.SlugField(required=False, help_text="Add hints from this policy's decision history.")


class PolicyDiffQuerySerializer(StrictSerializer):
    a = serializers.IntegerField(min_value=1)
    b = serializers.IntegerField(min_value=1)


class ActivateSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1)
    environment = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        help_text="Only the first environment (dev); later ones by promotion.",
    )


class SimulationRequestSerializer(StrictSerializer):
    policy = serializers.SlugField()
    version_a = serializers.IntegerField(min_value=1)
    version_b = serializers.IntegerField(min_value=1)
    dataset = serializers.SlugField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50_000, default=5000)
