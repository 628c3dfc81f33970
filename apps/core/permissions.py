"""Role checks inside the current tenant, shared by HTML views and the API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

from .errors import PermissionDenied
from .models import Role

AUDIT_READERS = frozenset({Role.ADMIN, Role.AUDITOR})


def has_role(request: HttpRequest | Any, roles: Iterable[str]) -> bool:
    held = getattr(request, "tenant_roles", frozenset())
    return bool(held & set(roles))


def require_role(request: HttpRequest | Any, roles: Iterable[str]) -> None:
    roles = frozenset(roles)
    if not has_role(request, roles):
        names = ", ".join(sorted(Role(r).label for r in roles))
        raise PermissionDenied(f"This needs one of these roles in the current tenant: {names}.")


class TenantRoleRequiredMixin(LoginRequiredMixin):
    """HTML views: signed in, a current tenant, and one of ``required_roles`` (if set)."""

    required_roles: frozenset[str] = frozenset()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if getattr(request, "tenant", None) is None:
            raise PermissionDenied("You are not a member of any active tenant.", code="no_tenant")
        if self.required_roles:
            require_role(request, self.required_roles)
        return super().dispatch(request, *args, **kwargs)


class HasTenantRole(BasePermission):
    """API: ``permission_classes = [HasTenantRole.of(Role.AUDITOR, Role.ADMIN)]``."""

    roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *roles: str) -> type[HasTenantRole]:
        return type(f"HasTenantRole_{'_'.join(sorted(roles))}", (cls,), {"roles": frozenset(roles)})

    def has_permission(self, request: Any, view: Any) -> bool:
        require_role(request, self.roles)
        return True
