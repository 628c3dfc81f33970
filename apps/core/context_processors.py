from typing import Any

from django.http import HttpRequest


def tenancy(request: HttpRequest) -> dict[str, Any]:
    return {
        "current_tenant": getattr(request, "tenant", None),
        "tenant_roles": getattr(request, "tenant_roles", frozenset()),
        "available_tenants": getattr(request, "available_tenants", []),
    }
