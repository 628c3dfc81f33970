"""Base classes every API view inherits, so none can forget tenancy.

``initial`` authenticates, resolves the tenant (the token's tenant, else ``X-Tenant``,
else the session's), sets it for the scoped managers, then runs DRF's permission and
throttle checks. ``finalize_response`` restores the previous tenant."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework import mixins, serializers, viewsets
from rest_framework.views import APIView

from ..errors import NotFound, PermissionDenied
from ..logging import bind_log_context
from ..models import ApiToken
from ..permissions import check_declared_roles
from ..selectors import tenant_access_for_user
from ..tenancy import reset_current_tenant, set_current_tenant


def _resolve_tenant(request: Any) -> tuple[Any, frozenset[str]]:
    user = request.user
    if not user or not user.is_authenticated:
        return None, frozenset()
    if isinstance(request.auth, ApiToken):  # the token names its tenant; authentication read the roles
        roles = getattr(request.auth, "roles", None)
        if roles is None:  # a token attached without ApiTokenAuthentication (force_authenticate)
            roles = tenant_access_for_user(user).get(request.auth.tenant, frozenset())
        return request.auth.tenant, roles
    access = tenant_access_for_user(user)
    wanted = request.headers.get("X-Tenant") or getattr(request._request, "tenant", None)
    if wanted is None:
        return None, frozenset()
    slug = wanted if isinstance(wanted, str) else wanted.slug
    for tenant, roles in access.items():
        if tenant.slug == slug:
            return tenant, roles
    raise NotFound("No such tenant.", code="tenant_not_found")


class TenantScopedAPIMixin:
    """Views that can answer without a current tenant (who am I, which tenants are mine)
    set ``tenant_required = False``; every other view refuses a user with no tenant. Each
    action declares its roles in ``required_roles`` (see ``apps.core.permissions``)."""

    tenant_required = True
    _tenant_token = None
    _format_suffix: str | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The router adds ``.json``-style format-suffix routes for every action; DRF passes
        # the suffix to the handler as ``format=``, which custom actions and ``create`` do
        # not take. Keep it for content negotiation and out of the handler's arguments.
        self._format_suffix = kwargs.pop("format", None)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def get_format_suffix(self, **kwargs: Any) -> str | None:
        return self._format_suffix

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)  # type: ignore[attr-defined]
        tenant, roles = _resolve_tenant(request)
        request.tenant = tenant
        request.tenant_roles = roles
        self._tenant_token = set_current_tenant(tenant)
        if tenant is not None:
            bind_log_context(tenant_id=tenant.pk)
        elif self.tenant_required and request.user and request.user.is_authenticated:
            raise PermissionDenied("You are not a member of any active tenant.", code="no_tenant")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def check_permissions(self, request: Any) -> None:
        """DRF's permission classes (signed in), then the roles this action declares."""
        super().check_permissions(request)  # type: ignore[misc]
        method = request.method.lower()
        if hasattr(self, "action_map"):  # a viewset: the action this method is routed to
            key = self.action if method in self.action_map else None  # type: ignore[attr-defined]
        else:
            key = method if hasattr(self, method) else None
        if key is not None:  # no handler: DRF answers 405, and there is nothing to protect
            check_declared_roles(request, self, key)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if self._tenant_token is not None:
            reset_current_tenant(self._tenant_token)
            self._tenant_token = None
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class TenantAPIView(TenantScopedAPIMixin, APIView):
    pass


class TenantGenericViewSet(TenantScopedAPIMixin, viewsets.GenericViewSet):
    """Lookups go through ``get_queryset`` (scoped), so another tenant's id is a 404."""


class TenantReadOnlyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    pass


def _json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why ``value`` (as decoded from JSON) is the wrong type for ``field``, or ``None``.

    DRF coerces: a CharField takes ``123`` as ``"123"``, a BooleanField takes ``"yes"``, an
    IntegerField takes ``"7"`` and ``7.0``. A JSON API should refuse those instead."""
    if value is None or value is serializers.empty:
        return None  # required / allow_null are DRF's to judge
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be a boolean (true or false)."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be an integer."
    if isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(field, (serializers.CharField, serializers.ChoiceField, serializers.DateTimeField)):
        if isinstance(field, serializers.FileField):
            return None
        return None if isinstance(value, str) else "Not a valid string."
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return None  # DRF refuses non-lists itself ("Expected a list of items")
        for item in value:
            problem = _json_type_error(field.child, item)
            if problem:
                return problem
        return None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return None
        for item in value.values():
            problem = _json_type_error(field.child, item)
            if problem:
                return problem
    return None


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, instead of silently dropping them, and values of the
    wrong JSON type (a number for a string, ``"true"`` for a boolean, ``7.0`` for an integer)
    instead of coercing them. Form and multipart bodies (a ``QueryDict``, where every value is
    a string) keep DRF's parsing of their text."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            if not isinstance(data, QueryDict):
                wrong = {
                    name: [problem]
                    for name, field in self.fields.items()
                    if not field.read_only and name in data
                    for problem in [_json_type_error(field, data[name])]
                    if problem
                }
                if wrong:
                    raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)
