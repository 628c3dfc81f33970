from __future__ import annotations

from rest_framework import serializers

from ..models import ApiToken, AuditChainCheck, AuditEvent, Membership, Tenant
from .base import StrictSerializer


class TenantSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["slug", "name", "kind", "roles"]

    def get_roles(self, tenant: Tenant) -> list[str]:
        return sorted(self.context.get("access", {}).get(tenant, ()))


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "is_active", "created_at"]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "reason",
            "request_id",
            "payload",
            "payload_digest",
            "prev_hash",
            "hash",
        ]


class AuditChainCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditChainCheck
        fields = ["id", "checked_at", "ok", "events_checked", "head_hash", "first_broken_seq", "message"]


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]


class ApiTokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    tenant = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())
    tenants = serializers.ListField(child=serializers.CharField())
