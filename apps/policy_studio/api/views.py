from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.base import TenantAPIView, TenantReadOnlyViewSet
from apps.core.errors import NotFound

from .. import coaching, selectors, services
from ..environments import first_name
from ..hooks import decision_history
from ..lac.diff import diff_policies
from ..lac.language import PolicySyntaxError, compile_policy
from ..models import Policy
from ..permissions import AUTHORS, POLICY_READERS
from ..simulator import simulate
from .serializers import (
    ActivateSerializer,
    PolicyDiffQuerySerializer,
    PolicyLintSerializer,
    PolicySaveSerializer,
    PolicySerializer,
    PolicySourceSerializer,
    PolicyVersionSerializer,
    SimulationRequestSerializer,
)


class PolicyViewSet(TenantReadOnlyViewSet):
    """Policies. POST saves a new immutable version (creating the policy on first save)."""

    serializer_class = PolicySerializer
    queryset = Policy.all_tenants.none()  # for the schema; get_queryset is the real one
    lookup_field = "slug"
    required_roles = {"list": POLICY_READERS, "retrieve": POLICY_READERS, "version": POLICY_READERS,
                      "create": AUTHORS, "activate": AUTHORS, "diff": POLICY_READERS}  # fmt: skip

    def get_queryset(self) -> Any:
        return selectors.policies()

    @extend_schema(request=PolicySaveSerializer, responses={201: PolicyVersionSerializer})
    def create(self, request: Any) -> Response:
        incoming = PolicySaveSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        version = services.policy_save_version(actor=request.user, environment=first_name(), **incoming.validated_data)
        return Response(PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ActivateSerializer, responses=PolicySerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Any, slug: str) -> Response:
        policy = self.get_object()
        incoming = ActivateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.policy_put_in_force(
            actor=request.user,
            slug=policy.slug,
            number=incoming.validated_data["version"],
            environment=incoming.validated_data["environment"] or first_name(),
        )
        return Response(PolicySerializer(selectors.policies().get(pk=policy.pk)).data)

    @extend_schema(responses=PolicyVersionSerializer)
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)", url_name="version-detail")
    def version(self, request: Any, slug: str, number: str) -> Response:
        policy = self.get_object()
        version = selectors.policy_versions(policy).filter(number=int(number)).first()
        if version is None:
            raise NotFound(f"No version {number} of policy {slug!r}.")
        return Response(PolicyVersionSerializer(version).data)

    @extend_schema(parameters=[PolicyDiffQuerySerializer], responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def diff(self, request: Any, slug: str) -> Response:
        """Rule-level diff between versions ``a`` and ``b`` (lac/diff.py), and whether their
        compiled forms are identical."""
        policy = self.get_object()
        incoming = PolicyDiffQuerySerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        wanted = [incoming.validated_data["a"], incoming.validated_data["b"]]
        versions = {v.number: v for v in selectors.policy_versions(policy).filter(number__in=wanted)}
        missing = [n for n in wanted if n not in versions]
        if missing:
            raise NotFound(f"No version {missing[0]} of policy {slug!r}.")
        diff = diff_policies(versions[wanted[0]].source, versions[wanted[1]].source)
        return Response({"policy": policy.slug, "a": wanted[0], "b": wanted[1], **diff.as_dict()})


class PolicyLintView(TenantAPIView):
    """Lint policy source as the editor types (docs/lac-lint.md): syntax problems, or lint
    findings with line and column, plus decision-history hints when ``policy`` is named."""

    required_roles = AUTHORS

    @extend_schema(request=PolicyLintSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        incoming = PolicyLintSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        return Response(
            coaching.lint_report(data["source"], datasets=data.get("datasets"), policy_slug=data.get("policy"))
        )


class PolicyValidateView(TenantAPIView):
    """Check policy source without saving: every problem with its line and column."""

    required_roles = AUTHORS

    @extend_schema(request=PolicySourceSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        incoming = PolicySourceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            policy = compile_policy(incoming.validated_data["source"])
        except PolicySyntaxError as exc:
            return Response({"valid": False, "problems": [p.as_dict() for p in exc.problems]})
        return Response({"valid": True, "problems": [], "summary": coaching.policy_summary(policy)})


class SimulationView(TenantAPIView):
    """Replay the decision history under two versions of a policy; return what changes."""

    required_roles = AUTHORS

    @extend_schema(request=SimulationRequestSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        incoming = SimulationRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        policy = selectors.policies().filter(slug=data["policy"]).first()
        if policy is None:
            raise NotFound(f"No policy {data['policy']!r}.")
        versions = {
            v.number: v
            for v in selectors.policy_versions(policy).filter(number__in=[data["version_a"], data["version_b"]])
        }
        missing = [n for n in (data["version_a"], data["version_b"]) if n not in versions]
        if missing:
            raise NotFound(f"No version {missing[0]} of policy {policy.slug!r}.")
        runs = decision_history(dataset=data.get("dataset") or None, limit=data["limit"])
        sim = simulate(versions[data["version_a"]], versions[data["version_b"]], runs)
        return Response(
            {
                "summary": sim.summary(),
                "changed": [
                    {
                        "run_id": r.run_id,
                        "created_at": r.created_at,
                        "user": r.username,
                        "dataset": r.dataset,
                        "a": r.a.__dict__,
                        "b": r.b.__dict__,
                        "minimization_changes": r.minimization_changes,
                    }
                    for r in sim.changed
                ],
            }
        )


class CoverageView(TenantAPIView):
    """Tier-1 views and the minimization rule covering each P0/P1 field."""

    required_roles = POLICY_READERS

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(selectors.tier1_coverage().as_dict())
