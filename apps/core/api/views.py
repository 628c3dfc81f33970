from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import selectors, services, tasks
from ..errors import NotFound
from ..filters import AuditEventFilterSet
from ..models import ApiToken, AuditChainCheck, AuditEvent, Membership, Tenant
from ..permissions import ADMINS, ANY_MEMBER, AUDIT_READERS, SIGNED_IN
from .base import TenantAPIView, TenantReadOnlyViewSet
from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    AuditChainCheckSerializer,
    AuditEventSerializer,
    MembershipSerializer,
    MeSerializer,
    TenantSerializer,
)


class MeView(TenantAPIView):
    tenant_required = False
    required_roles = SIGNED_IN

    @extend_schema(responses=MeSerializer)
    def get(self, request: Any) -> Response:
        access = selectors.tenant_access_for_user(request.user)
        return Response(
            {
                "username": request.user.get_username(),
                "tenant": request.tenant.slug if request.tenant else None,
                "roles": sorted(request.tenant_roles),
                "tenants": [t.slug for t in access],
            }
        )


class TenantViewSet(TenantReadOnlyViewSet):
    """The tenants you belong to, with your roles in each."""

    serializer_class = TenantSerializer
    queryset = Tenant.objects.none()  # for the schema; get_queryset is the real one
    tenant_required = False
    required_roles = SIGNED_IN
    lookup_field = "slug"
    pagination_class = None

    def get_queryset(self) -> Any:
        return Tenant.objects.filter(pk__in=[t.pk for t in self._access()])

    def _access(self) -> dict:
        if not hasattr(self, "_access_cache"):
            self._access_cache = selectors.tenant_access_for_user(self.request.user)
        return self._access_cache

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "access": self._access()}


class MembershipViewSet(TenantReadOnlyViewSet):
    """Members of the current tenant and their roles (tenant admins)."""

    serializer_class = MembershipSerializer
    queryset = Membership.all_tenants.none()  # for the schema; get_queryset is the real one
    required_roles = ADMINS

    def get_queryset(self) -> Any:
        return selectors.tenant_members()


class AuditEventViewSet(TenantReadOnlyViewSet):
    """The current tenant's audit chain, newest first. Looked up by sequence number."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.all_tenants.none()  # for the schema; get_queryset is the real one
    filterset_class = AuditEventFilterSet
    required_roles = AUDIT_READERS
    lookup_field = "seq"
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        return selectors.audit_events()


class AuditChainCheckViewSet(mixins.CreateModelMixin, TenantReadOnlyViewSet):
    """Walks of the audit chain. POST queues a new walk (a Celery task)."""

    serializer_class = AuditChainCheckSerializer
    queryset = AuditChainCheck.all_tenants.none()  # for the schema; get_queryset is the real one
    required_roles = AUDIT_READERS

    def get_queryset(self) -> Any:
        return AuditChainCheck.objects.all()

    @extend_schema(request=None, responses={202: None})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        tenant_id = request.tenant.pk
        transaction.on_commit(lambda: tasks.audit_chain_verify.delay(tenant_id))
        return Response(
            {"status": "queued", "message": "The audit chain walk has been queued; its result appears in this list."},
            status=status.HTTP_202_ACCEPTED,
        )


class ApiTokenViewSet(mixins.DestroyModelMixin, TenantReadOnlyViewSet):
    """Your API tokens in the current tenant. DELETE revokes (the row stays, for audit)."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.all_tenants.none()  # for the schema; get_queryset is the real one
    required_roles = ANY_MEMBER  # everyone manages their own tokens; get_queryset is only yours

    def get_queryset(self) -> Any:
        return selectors.api_tokens_for(self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Any) -> Response:
        incoming = ApiTokenCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(user=request.user, **incoming.validated_data)
        token.token = plaintext
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.api_token_revoke(token=instance, actor=self.request.user)

    @action(detail=False, methods=["get"], url_path="current")
    def current(self, request: Any) -> Response:
        """The token this request authenticated with."""
        if not isinstance(request.auth, ApiToken):
            raise NotFound("This request did not use an API token.")
        return Response(ApiTokenSerializer(request.auth).data)
