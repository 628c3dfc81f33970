from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView, TenantReadOnlyViewSet
from apps.core.errors import NotFound
from apps.core.models import Role
from apps.core.permissions import ANY_MEMBER, has_role
from apps.graphs.models import DATA_CLASS_CHOICES

from .. import limits, selectors, services
from ..models import AccessGrant, AccessRequest
from ..permissions import GRANT_ADMINS, REQUESTERS


class AccessRequestSerializer(serializers.ModelSerializer):
    requester = serializers.CharField(source="requester.username")
    dataset = serializers.CharField(source="dataset.slug")
    approvals = serializers.SerializerMethodField()
    grant = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id", "requester", "dataset", "data_classes", "purpose", "reason", "reason_sha256", "duration_minutes",
            "approvals_required", "high_risk", "status", "created_at", "deadline_at", "decided_at", "rule_id",
            "source_run_id", "approvals", "grant",
        ]  # fmt: skip

    def get_approvals(self, obj: AccessRequest) -> list[dict[str, Any]]:
        return [
            {"approver": a.approver.username, "decision": a.decision, "channel": a.channel, "at": a.created_at}
            for a in obj.approvals.all()
        ]

    def get_grant(self, obj: AccessRequest) -> dict[str, Any] | None:
        grant = getattr(obj, "grant", None)
        return (
            None
            if grant is None
            else {
                "id": grant.pk,
                "starts_at": grant.starts_at,
                "expires_at": grant.expires_at,
                "revoked_at": grant.revoked_at,
            }
        )


class AccessRequestCreateSerializer(StrictSerializer):
    run = serializers.IntegerField(required=False)
    dataset = serializers.SlugField(required=False)
    data_classes = serializers.ListField(child=serializers.ChoiceField(choices=DATA_CLASS_CHOICES), required=False)
    purpose = serializers.CharField(max_length=limits.PURPOSE_MAX, required=False)
    duration_minutes = serializers.IntegerField(min_value=1, max_value=limits.DURATION_MAX_MINUTES)
    reason = serializers.CharField(min_length=limits.REASON_MIN, max_length=limits.REASON_MAX)


class DecisionSerializer(StrictSerializer):
    comment = serializers.CharField(max_length=limits.COMMENT_MAX, required=False, default="", allow_blank=True)


class GrantRevokeSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=limits.COMMENT_MAX, required=False, default="", allow_blank=True,
        help_text="Required when the grant is someone else's; its holder is told.",
    )  # fmt: skip


class AccessRequestViewSet(TenantReadOnlyViewSet):
    """Your requests, plus (for approvers) those you may decide; admins and auditors see all."""

    serializer_class = AccessRequestSerializer
    queryset = AccessRequest.all_tenants.none()  # for the schema; get_queryset is the real one
    # cancel: your own requests only (the service looks the request up by requester).
    required_roles = {"list": ANY_MEMBER, "retrieve": ANY_MEMBER, "create": REQUESTERS,
                      "approve": frozenset({Role.APPROVER}), "deny": frozenset({Role.APPROVER}),
                      "cancel": ANY_MEMBER}  # fmt: skip

    def get_queryset(self) -> Any:
        qs = AccessRequest.objects.select_related("requester", "dataset").prefetch_related("approvals__approver")
        if has_role(self.request, GRANT_ADMINS):
            return qs.order_by("-created_at")
        mine = set(qs.filter(requester=self.request.user).values_list("pk", flat=True))
        if has_role(self.request, {"approver"}):
            mine |= {r.pk for r in selectors.inbox_for(self.request.user)}
            mine |= set(qs.filter(approvals__approver=self.request.user).values_list("pk", flat=True))
        return qs.filter(pk__in=mine).order_by("-created_at")

    @extend_schema(request=AccessRequestCreateSerializer, responses={201: AccessRequestSerializer})
    def create(self, request: Any) -> Response:
        incoming = AccessRequestCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        created = services.request_create(
            requester=request.user,
            roles=request.tenant_roles,
            reason=d["reason"],
            duration_minutes=d["duration_minutes"],
            run_id=d.get("run"),
            dataset_slug=d.get("dataset"),
            data_classes=d.get("data_classes"),
            purpose=d.get("purpose"),
        )
        return Response(AccessRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    def _decide(self, request: Any, pk: str, decision: str) -> Response:
        obj = self.get_object_or_404_any(pk)
        incoming = DecisionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        decided = services.decide(
            request_id=obj.pk,
            approver=request.user,
            decision=decision,
            channel="api",
            comment=incoming.validated_data["comment"],
        )
        return Response(AccessRequestSerializer(AccessRequest.objects.get(pk=decided.pk)).data)

    def get_object_or_404_any(self, pk: str) -> AccessRequest:
        # Approvers may decide requests they cannot list yet (e.g. after escalation); the
        # service decides eligibility and audits refusals. Another tenant's id is still a 404.
        obj = AccessRequest.objects.filter(pk=int(pk)).first() if str(pk).isdigit() else None
        if obj is None:
            raise NotFound("No such access request.")
        return obj

    @extend_schema(request=DecisionSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Any, pk: str) -> Response:
        return self._decide(request, pk, "approve")

    @extend_schema(request=DecisionSerializer, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def deny(self, request: Any, pk: str) -> Response:
        return self._decide(request, pk, "deny")

    @extend_schema(request=None, responses=AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Any, pk: str) -> Response:
        obj = services.request_cancel(request_id=self.get_object_or_404_any(pk).pk, actor=request.user)
        return Response(AccessRequestSerializer(obj).data)


class GrantSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    dataset = serializers.CharField(source="dataset.slug")

    class Meta:
        model = AccessGrant
        fields = [
            "id",
            "request",
            "user",
            "dataset",
            "data_classes",
            "purpose",
            "reason_sha256",
            "starts_at",
            "expires_at",
            "revoked_at",
        ]


class AccessGrantViewSet(TenantReadOnlyViewSet):
    """Grants: yours, or all of the tenant's for admins and auditors. POST revoke/ ends one now."""

    serializer_class = GrantSerializer
    queryset = AccessGrant.all_tenants.none()  # for the schema; get_queryset is the real one
    # Revoke: your own grant; any grant for tenant admins (auditors only read).
    required_roles = {"list": ANY_MEMBER, "retrieve": ANY_MEMBER, "revoke": ANY_MEMBER}

    def get_queryset(self) -> Any:
        if self.action == "revoke":
            return selectors.grants_revocable_by(self.request.user, self.request.tenant_roles)
        return selectors.grants_visible_to(self.request.user, self.request.tenant_roles)

    @extend_schema(request=GrantRevokeSerializer, responses=GrantSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Any, pk: str) -> Response:
        grant = self.get_object()
        incoming = GrantRevokeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        revoked = services.grant_revoke(grant_id=grant.pk, actor=request.user, reason=incoming.validated_data["reason"])
        return Response(GrantSerializer(revoked).data)


class MetricsView(TenantAPIView):
    """Approval times (request to decision) for the tenant: count, median, p90 in minutes."""

    required_roles = ANY_MEMBER

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(selectors.approval_metrics())
