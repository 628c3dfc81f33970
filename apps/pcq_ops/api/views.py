"""PCQ operations API: anomalies (list with the explorer's filters, retrieve) and suppression
rules (list, create, approve, revoke). Same selectors and services as the pages."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantReadOnlyViewSet

from .. import anomalies, selectors
from ..models import Anomaly, SuppressionRule
from ..permissions import OPS_READERS, RULE_APPROVERS, RULE_AUTHORS


class AnomalySerializer(serializers.ModelSerializer):
    class Meta:
        model = Anomaly
        fields = ["id", "kind", "severity", "message", "dataset", "transform", "metric", "delta", "lineage",
                  "last_good", "changed", "root_kind", "root", "suppressed_by", "page", "created_at"]  # fmt: skip


class RuleSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)

    class Meta:
        model = SuppressionRule
        fields = ["id", "matchers", "reason", "created_by", "status", "approvals_required", "approved_by",
                  "breadth", "created_at", "starts_at", "expires_at", "reminded_at", "ended_at"]  # fmt: skip


class RuleCreateSerializer(StrictSerializer):
    matchers = serializers.DictField()
    reason = serializers.CharField(max_length=2000)
    hours = serializers.FloatField()


class SuppressionRevokeSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, default="")


class AnomalyViewSet(TenantReadOnlyViewSet):
    serializer_class = AnomalySerializer
    queryset = Anomaly.all_tenants.none()  # for the schema; get_queryset is the real one
    required_roles = OPS_READERS

    def get_queryset(self) -> Any:
        return selectors.anomalies(self.request.query_params)


class SuppressionRuleViewSet(mixins.CreateModelMixin, TenantReadOnlyViewSet):
    serializer_class = RuleSerializer
    queryset = SuppressionRule.all_tenants.none()
    required_roles = {"list": OPS_READERS, "retrieve": OPS_READERS, "create": RULE_AUTHORS,
                      "approve": RULE_APPROVERS, "revoke": RULE_AUTHORS}  # fmt: skip

    def get_queryset(self) -> Any:
        return SuppressionRule.objects.select_related("created_by")

    @extend_schema(request=RuleCreateSerializer, responses={201: RuleSerializer})
    def create(self, request: Any) -> Response:
        incoming = RuleCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        rule = anomalies.suppression_create(
            actor=request.user, matchers=d["matchers"], reason=d["reason"], hours=d["hours"]
        )
        return Response(RuleSerializer(rule).data, status=201)

    @extend_schema(request=None, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Any, pk: str) -> Response:
        rule = anomalies.suppression_approve(
            self.get_object(), actor=request.user, roles=frozenset(request.tenant_roles), channel="api"
        )
        return Response(RuleSerializer(rule).data)

    @extend_schema(request=SuppressionRevokeSerializer, responses=RuleSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Any, pk: str) -> Response:
        rule = self.get_object()  # another tenant's rule is a 404 before the body is read
        incoming = SuppressionRevokeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        rule = anomalies.suppression_revoke(rule, actor=request.user, reason=incoming.validated_data["reason"])
        return Response(RuleSerializer(rule).data)
