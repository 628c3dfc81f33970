"""The lifecycle API (docs/studio.md): promotion requests with their gate jobs and insights,
drift, the registry, rollback and the lifecycle metrics. Another tenant's object is a 404;
errors are ``{code, message, details}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView, TenantReadOnlyViewSet

from .. import lifecycle, promotions
from ..drift import drift_check
from ..environments import environment_rows
from ..models import Drift, GateJob, Policy, PromotionRequest
from ..permissions import AUTHORS, POLICY_READERS


class GateJobSerializer(serializers.ModelSerializer):
    ok = serializers.BooleanField(read_only=True)

    class Meta:
        model = GateJob
        fields = ["id", "status", "progress", "results", "ok", "created_at", "started_at", "finished_at"]


class PromotionSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    base_version = serializers.IntegerField(source="base_version.number", allow_null=True, read_only=True)
    proposer = serializers.CharField(source="proposer.username", read_only=True)
    approver = serializers.CharField(source="approver.username", allow_null=True, read_only=True)
    needs_approval = serializers.BooleanField(read_only=True)
    job = serializers.SerializerMethodField()

    class Meta:
        model = PromotionRequest
        fields = [
            "id", "policy", "version", "base_version", "source_env", "target_env", "kind", "status", "risk",
            "needs_approval", "proposer", "approver", "note", "soak_until", "objection", "created_at",
            "decided_at", "applied_at", "job",
        ]  # fmt: skip

    @extend_schema_field(GateJobSerializer(allow_null=True))
    def get_job(self, p: PromotionRequest) -> dict | None:
        job = p.jobs.order_by("-created_at", "-pk").first()
        return GateJobSerializer(job).data if job else None


class PromotionCreateSerializer(StrictSerializer):
    policy = serializers.SlugField()
    version = serializers.IntegerField(min_value=1)
    target = serializers.CharField(max_length=32, required=False, default="")
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class RejectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class FixSerializer(StrictSerializer):
    gate = serializers.ChoiceField(choices=["lint", "tests", "redteam", "simulation", "coverage"])


class RollbackSerializer(StrictSerializer):
    policy = serializers.SlugField()
    environment = serializers.CharField(max_length=32, required=False, default="")


class DriftSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.slug", allow_null=True, read_only=True)
    promotion = serializers.IntegerField(source="promotion_id", allow_null=True, read_only=True)

    class Meta:
        model = Drift
        fields = [
            "id", "kind", "key", "policy", "environment", "risk", "status", "summary", "details", "promotion",
            "detected_at", "resolved_at", "resolution",
        ]  # fmt: skip


class PromotionViewSet(TenantReadOnlyViewSet):
    """Promotion requests. POST proposes one (gates start as a task); actions approve (a
    second author, prod), apply (before prod), reject (or object to an auto-merge) and fix
    (save a failed gate's suggested draft and propose it again)."""

    serializer_class = PromotionSerializer
    queryset = PromotionRequest.all_tenants.none()
    required_roles = {"list": POLICY_READERS, "retrieve": POLICY_READERS, "gates": POLICY_READERS,
                      "insights": POLICY_READERS, "create": AUTHORS, "approve": AUTHORS, "apply": AUTHORS,
                      "reject": AUTHORS, "fix": AUTHORS}  # fmt: skip

    def get_queryset(self) -> Any:
        qs = lifecycle.promotions()
        if self.request.query_params.get("status"):
            qs = qs.filter(status=self.request.query_params["status"])
        return qs

    def _out(self, p: PromotionRequest, code: int = status.HTTP_200_OK) -> Response:
        return Response(PromotionSerializer(lifecycle.promotions().get(pk=p.pk)).data, status=code)

    @extend_schema(request=PromotionCreateSerializer, responses={201: PromotionSerializer})
    def create(self, request: Any) -> Response:
        incoming = PromotionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        p = promotions.promotion_create(
            actor=request.user, slug=d["policy"], number=d["version"], target_env=d["target"] or None, note=d["note"]
        )
        return self._out(p, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Any, pk: str) -> Response:
        return self._out(promotions.promotion_approve(actor=request.user, pk=self.get_object().pk))

    @extend_schema(request=None, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def apply(self, request: Any, pk: str) -> Response:
        return self._out(promotions.promotion_apply(actor=request.user, pk=self.get_object().pk))

    @extend_schema(request=RejectSerializer, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Any, pk: str) -> Response:
        p = self.get_object()  # another tenant's id is a 404 before the body is read
        incoming = RejectSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._out(promotions.promotion_reject(actor=request.user, pk=p.pk, **incoming.validated_data))

    @extend_schema(request=FixSerializer, responses={201: PromotionSerializer})
    @action(detail=True, methods=["post"])
    def fix(self, request: Any, pk: str) -> Response:
        p = self.get_object()
        incoming = FixSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        new = promotions.mitigation_apply(actor=request.user, pk=p.pk, gate=incoming.validated_data["gate"])
        return self._out(new, status.HTTP_201_CREATED)

    @extend_schema(responses=GateJobSerializer(many=True))
    @action(detail=True, methods=["get"])
    def gates(self, request: Any, pk: str) -> Response:
        jobs = self.get_object().jobs.order_by("-created_at", "-pk")
        return Response(GateJobSerializer(jobs, many=True).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def insights(self, request: Any, pk: str) -> Response:
        """One insight per failed gate: cause, failed items, policy and data diff, suggestion,
        and the mitigation draft's source (``fix`` applies it)."""
        job = self.get_object().jobs.order_by("-created_at", "-pk").first()
        failed = [r for r in (job.results if job else []) if not r["ok"]]
        return Response(
            {"insights": [{"gate": r["gate"], "summary": r["summary"], **(r.get("insight") or {})} for r in failed]}
        )


class DriftViewSet(TenantReadOnlyViewSet):
    """Drift findings (open first); POST check runs the detection now (beat runs it too)."""

    serializer_class = DriftSerializer
    queryset = Drift.all_tenants.none()
    required_roles = {"list": POLICY_READERS, "retrieve": POLICY_READERS, "check": AUTHORS}

    def get_queryset(self) -> Any:
        qs = lifecycle.drifts().order_by("status", "-detected_at")
        if self.request.query_params.get("status"):
            qs = qs.filter(status=self.request.query_params["status"])
        return qs

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def check(self, request: Any) -> Response:
        return Response(drift_check(actor=request.user))


class RegistryView(TenantAPIView):
    """Per policy and environment: the registered version (since, promoted digest) and the
    running one."""

    required_roles = POLICY_READERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(
            {
                "policies": [
                    {
                        "policy": policy.slug,
                        "environments": [
                            {
                                "name": r.name,
                                "registered": r.registered.version.number if r.registered else None,
                                "since": r.registered.created_at if r.registered else None,
                                "kind": r.registered.kind if r.registered else None,
                                "promoted_digest": r.registered.digest if r.registered else None,
                                "running": r.running.number if r.running else None,
                                "in_sync": r.in_sync,
                            }
                            for r in environment_rows(policy)
                        ],
                    }
                    for policy in Policy.objects.order_by("slug")
                ]
            }
        )


class RollbackView(TenantAPIView):
    """Put the environment's previous version back (prod by default); audited."""

    required_roles = AUTHORS

    @extend_schema(request=RollbackSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        incoming = RollbackSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        d = incoming.validated_data
        entry = promotions.rollback(actor=request.user, slug=d["policy"], environment=d["environment"] or None)
        return Response({"policy": d["policy"], "environment": entry.environment, "version": entry.version.number})


class MetricsView(TenantAPIView):
    """Lifecycle metrics from the recorded events: time-to-fix median, revert rate (per
    author), low-risk drift cleared automatically."""

    required_roles = POLICY_READERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(lifecycle.metrics())
