from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.base import TenantReadOnlyViewSet
from apps.policy_studio.permissions import QUERY_READERS, QUERY_RUNNERS

from .. import selectors
from ..denials import denial_body
from ..models import QueryRun
from ..pipeline import query_run_execute
from ..specs import spec_from_body
from .serializers import QueryRunSerializer


class QueryRunViewSet(TenantReadOnlyViewSet):
    """Queries. POST runs one through the pipeline: 201 with the minimized result when
    allowed, 403 ``query_denied`` (with the stored run's id and reasons) when denied."""

    serializer_class = QueryRunSerializer
    queryset = QueryRun.all_tenants.none()  # for the schema; get_queryset is the real one
    required_roles = {"list": QUERY_READERS, "retrieve": QUERY_READERS, "create": QUERY_RUNNERS}

    def get_serializer_context(self) -> dict[str, Any]:
        roles = getattr(self.request, "tenant_roles", frozenset())
        return {**super().get_serializer_context(), "overseer": bool(roles & selectors.RUN_OVERSEERS)}

    def get_queryset(self) -> Any:
        return selectors.query_runs_visible_to(self.request.user, self.request.tenant_roles).prefetch_related(
            "decisions__policy_version__policy"
        )

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: QueryRunSerializer})
    def create(self, request: Any) -> Response:
        spec = spec_from_body(request.data)
        run = query_run_execute(actor=request.user, roles=request.tenant_roles, spec=spec)
        run = selectors.query_runs().prefetch_related("decisions__policy_version__policy").get(pk=run.pk)
        if run.status == QueryRun.Status.DENIED:
            return Response(denial_body(run), status=status.HTTP_403_FORBIDDEN)
        if run.status == QueryRun.Status.FAILED:
            return Response(
                {
                    "code": "query_failed",
                    "message": run.explanation,
                    "details": {"run_id": run.pk, "reason_codes": run.reason_codes, "audit_seq": run.audit_seq},
                },
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)
