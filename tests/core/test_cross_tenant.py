"""Every API endpoint, called as a member of another tenant, answers 404 or an empty list.

The test walks the URL resolver, so an endpoint added later without a case in
``CASES`` fails here until someone says how to build an object for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.core.models import Membership
from apps.core.tenancy import tenant_context
from tests.factories import AuditChainCheckFactory, api_token_for, audit_event_in

# Endpoints that hold no tenant data of their own.
NOT_TENANT_DATA = {"api-root", "api-schema", "api-docs"}


def _membership(tenant: Any, owner: Any) -> str:
    with tenant_context(tenant):
        return str(Membership.objects.filter(user=owner).first().pk)


def _audit_event(tenant: Any, owner: Any) -> str:
    # Seqs are per tenant; push A's chain well past B's so the seq names only A's event.
    for _ in range(30):
        event = audit_event_in(tenant, "test.secret-a")
    return str(event.seq)


# route name prefix -> builds one object in tenant A, returns its lookup value
CASES: dict[str, Callable[[Any, Any], str]] = {
    "tenant": lambda tenant, owner: tenant.slug,
    "membership": _membership,
    "auditevent": _audit_event,
    "auditchaincheck": lambda tenant, owner: str(AuditChainCheckFactory(tenant=tenant).pk),
    "apitoken": lambda tenant, owner: str(api_token_for(owner, tenant, name="a-secret-token")[0].pk),
    "api-me": lambda tenant, owner: tenant.slug,
}


def _api_patterns() -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/"):
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver().url_patterns, "")
    return found


def _case_for(name: str) -> str | None:
    if name in CASES:
        return name
    base = name.rsplit("-", 1)[0]
    return base if base in CASES else None


def test_every_api_route_has_a_cross_tenant_case() -> None:
    missing = sorted(
        {p.name for _, p in _api_patterns() if p.name and p.name not in NOT_TENANT_DATA and not _case_for(p.name)}
    )
    assert missing == [], f"add these to CASES: {missing}"


@pytest.mark.parametrize(
    "route",
    sorted({p.name for _, p in _api_patterns() if p.name and p.name not in NOT_TENANT_DATA}),
)
def test_other_tenant_sees_nothing(route: str, tenant_a, admin_a, api_b) -> None:
    from django.urls import reverse

    case = _case_for(route)
    marker = CASES[case](tenant_a, admin_a)
    pattern = next(p for _, p in _api_patterns() if p.name == route)
    kwargs = {key: marker for key in pattern.pattern.regex.groupindex if key != "format"}
    url = reverse(route, kwargs=kwargs)
    for method in ("get", "patch", "put", "delete", "post"):
        response = getattr(api_b, method)(url, {}, format="json")
        status = response.status_code
        if kwargs:
            assert status in (404, 405), f"{method.upper()} {url} -> {status}"
            continue
        if method == "get":
            assert status == 200, f"GET {url} -> {status}"
            text = json.dumps(response.json())
            assert "agency-a" not in text and "a-secret-token" not in text and "test.secret-a" not in text
            results = response.json()
            rows = results.get("results", results) if isinstance(results, dict) else results
            if isinstance(rows, list):
                assert all(str(row.get("id", row.get("seq", row.get("slug")))) != marker for row in rows)
        else:
            assert status != 500
