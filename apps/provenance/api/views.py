from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.base import StrictSerializer, TenantAPIView, TenantReadOnlyViewSet
from apps.core.errors import NotFound, ValidationFailed
from apps.core.keys import public_keys
from apps.core.permissions import ANY_MEMBER, AUDIT_READERS, SIGNED_IN
from apps.core.tenancy import require_current_tenant
from apps.queries.models import QueryRun

from .. import selectors, services
from ..dsl_compiler import compile_plan
from ..filters import EvidenceFilterSet
from ..integrity import latest_report_problem, manifest_problem, report_problem, witnessed_verdict
from ..pcq.manifest import MANIFEST_SCHEMA
from ..permissions import EVIDENCE_READERS, PROV_AUTHORS


def _verification(v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    entry = getattr(v, "entry", None)
    # The status is the witnessed one; a row that disagrees with its envelope says so.
    verdict = witnessed_verdict(v, require_current_tenant().slug)
    return {
        "id": v.pk,
        "status": verdict["status"],
        "witnessed": verdict["witnessed"],
        "integrity_problem": verdict["problem"],
        # True when the envelope (v2) also binds the message, diff and attestation results below.
        "details_witnessed": verdict["details_witnessed"],
        "message": v.message,
        "attestation_mode": "sim",
        "verifier_attestation": v.verifier_result,
        "witness_attestation": v.witness_result,
        "diff": v.diff,
        "replay_ms": v.replay_ms,
        "finished_at": v.finished_at,
        "leaf_index": entry.leaf_index if entry else None,
        "envelope": entry.envelope if entry else None,
    }


class EvidenceSerializer(serializers.ModelSerializer):
    manifest = serializers.SerializerMethodField()
    verification = serializers.SerializerMethodField()

    class Meta:
        model = QueryRun
        fields = ["id", "created_at", "status", "manifest", "verification"]

    def get_manifest(self, run: QueryRun) -> dict[str, Any]:
        m = run.manifest
        return {
            "digest": m.digest,
            "signature": m.signature,
            "executor_key_id": m.executor_key_id,
            "body": m.body,
            "integrity_problem": manifest_problem(m),
        }

    def get_verification(self, run: QueryRun) -> dict[str, Any] | None:
        return _verification(selectors.latest_verification(run))


class EvidenceViewSet(TenantReadOnlyViewSet):
    """Executed queries with their manifest, latest verification, attestation (sim) and log entry."""

    serializer_class = EvidenceSerializer
    queryset = QueryRun.all_tenants.none()  # for the schema; get_queryset is the real one
    filterset_class = EvidenceFilterSet
    required_roles = {"list": EVIDENCE_READERS, "retrieve": EVIDENCE_READERS, "bundle": EVIDENCE_READERS,
                      "reverify": AUDIT_READERS}  # fmt: skip

    def get_queryset(self) -> Any:
        return selectors.evidence_runs()

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def bundle(self, request: Any, pk: str) -> HttpResponse:
        """The evidence bundle (tar.gz) for offline verification."""
        run = self.get_object()
        entry = getattr(selectors.latest_verification(run), "entry", None)
        if entry is None:
            raise NotFound("This run has no witnessed verdict, so there is no evidence bundle.", code="not_witnessed")
        response = HttpResponse(services.evidence_bundle(entry), content_type="application/gzip")
        response["Content-Disposition"] = f'attachment; filename="evidence-run-{run.pk}.tar.gz"'
        return response

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def reverify(self, request: Any, pk: str) -> Response:
        """Queue a fresh verification of this run's manifest."""
        run = self.get_object()
        v = services.verification_request(run.manifest)
        return Response({"verification": v.pk, "status": "queued"}, status=202)


class InclusionProofView(TenantAPIView):
    """Inclusion proof of one of your tenant's log entries in the log of ``size`` (default: latest)."""

    required_roles = EVIDENCE_READERS

    @extend_schema(parameters=[OpenApiParameter("size", int, required=False)], responses=OpenApiTypes.OBJECT)
    def get(self, request: Any, leaf_index: int) -> Response:
        entry = selectors.witnessed_entries().filter(leaf_index=leaf_index).first()
        if entry is None:
            raise NotFound("No such log entry.")
        latest = services.latest_checkpoint()
        size = _int_param(request, "size", latest.size if latest else 0)
        if not leaf_index < size <= (latest.size if latest else 0):
            raise ValidationFailed(
                "size must be greater than the leaf index and at most the log's size.", details={"size": size}
            )
        return Response(
            {"leaf_index": leaf_index, "tree_size": size, "hashes": services.inclusion_proof(leaf_index, size)}
        )


class ConsistencyProofView(TenantAPIView):
    """Consistency proof between two tree sizes (hashes only; no tenant data)."""

    required_roles = ANY_MEMBER

    @extend_schema(
        parameters=[OpenApiParameter("old", int), OpenApiParameter("new", int)], responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Any) -> Response:
        latest = services.latest_checkpoint()
        size = latest.size if latest else 0
        old, new = _int_param(request, "old", 0), _int_param(request, "new", size)
        if not 0 < old <= new <= size:
            raise ValidationFailed(
                "Need 0 < old <= new <= the log's size.", details={"old": old, "new": new, "size": size}
            )
        return Response({"old": old, "new": new, "hashes": services.consistency_proof(old, new)})


class CheckpointView(TenantAPIView):
    """The latest signed checkpoint of the transparency log."""

    required_roles = ANY_MEMBER

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        cp = services.latest_checkpoint()
        if cp is None:
            raise NotFound("The log is empty.")
        return Response({"size": cp.size, "root_hash": cp.root_hash, "note": cp.note, "created_at": cp.created_at})


class IntegrityReportView(TenantAPIView):
    """The current tenant's latest integrity report and the ones before it (newest first)."""

    required_roles = EVIDENCE_READERS

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, required=False, description="1-100, default 10")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Any) -> Response:
        limit = _int_param(request, "limit", 10)
        if not 1 <= limit <= 100:
            raise ValidationFailed("limit must be between 1 and 100.", details={"limit": limit})
        reports = [
            {
                "id": r.pk,
                "checked_at": r.checked_at,
                "ok": r.ok,
                "problems": r.problems,
                "trigger": r.trigger,
                "results": r.results,
                "signature": r.signature,
                "key_id": r.key_id,
                "integrity_problem": report_problem(r),
            }
            for r in selectors.integrity_reports()[:limit]
        ]
        latest = reports[0] if reports else None
        # Same check as the page: the latest report's signature, and that it is the one the
        # audit chain last recorded (a deleted failing report does not leave a green one behind).
        problem = latest_report_problem(require_current_tenant(), selectors.integrity_reports().first())
        if latest is not None and problem:
            latest["integrity_problem"] = problem
        return Response({"latest": latest, "reports": reports, "latest_problem": problem})


class KeysView(TenantAPIView):
    """Public keys of the executor, verifier, witness, log and (simulated) TEE device."""

    tenant_required = False
    required_roles = SIGNED_IN

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(public_keys())


class ManifestSchemaView(TenantAPIView):
    """The JSON Schema every manifest validates against."""

    tenant_required = False
    required_roles = SIGNED_IN

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Any) -> Response:
        return Response(MANIFEST_SCHEMA)


class ProvSourceSerializer(StrictSerializer):
    source = serializers.CharField(max_length=50_000, trim_whitespace=False)


class ProvCompileView(TenantAPIView):
    """Compile a provenance DSL chain to a plan manifest (400 with line and column on errors)."""

    required_roles = PROV_AUTHORS

    @extend_schema(request=ProvSourceSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Any) -> Response:
        incoming = ProvSourceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return Response(compile_plan(incoming.validated_data["source"]))


def _int_param(request: Any, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an integer.", details={name: raw}) from exc
