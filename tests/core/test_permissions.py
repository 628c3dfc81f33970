"""Roles are declared per action on every view and checked by the base classes."""

from __future__ import annotations

import pytest
from django.urls import get_resolver, include, path
from django.views import View
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIRequestFactory, force_authenticate

from apps.core.api.base import TenantGenericViewSet
from apps.core.models import Role
from apps.core.permissions import (
    ANY_MEMBER,
    PUBLIC,
    SIGNED_IN,
    TenantRoleRequiredMixin,
    _walk,
    declared_roles,
    undeclared_actions,
)


def test_every_html_view_and_api_action_declares_its_roles() -> None:
    assert undeclared_actions() == []


class _HalfDeclared(TenantGenericViewSet):
    required_roles = {"list": ANY_MEMBER}

    def list(self, request):
        return Response([])

    @action(detail=False, methods=["post"])
    def forgotten(self, request):
        return Response({"done": True})


class _Page(TenantRoleRequiredMixin, View):
    required_roles = {"get": ANY_MEMBER}

    def get(self, request):  # pragma: no cover - never reached in these tests
        return None

    def post(self, request):  # pragma: no cover
        return None


def _patterns():
    router = SimpleRouter()
    router.register("half", _HalfDeclared, basename="half")
    return [path("api/", include(router.urls)), path("page/", _Page.as_view())]


def test_the_check_names_an_action_without_a_declaration() -> None:
    assert undeclared_actions(_patterns()) == ["api/^half/forgotten/$ forgotten", "page/ post"]


def test_an_undeclared_action_is_refused_at_runtime(tenant_a, admin_a) -> None:
    request = APIRequestFactory().post("/api/half/forgotten/", {}, format="json")
    force_authenticate(request, user=admin_a)
    response = _HalfDeclared.as_view({"post": "forgotten"})(request)
    assert response.status_code in (403, 404)  # no tenant via force_authenticate+session: fail closed
    request = APIRequestFactory().post("/api/half/forgotten/", {}, format="json", HTTP_X_TENANT=tenant_a.slug)
    force_authenticate(request, user=admin_a)
    response = _HalfDeclared.as_view({"post": "forgotten"})(request)
    assert response.status_code == 403 and response.data["code"] == "roles_not_declared"


# --- The auditor role is read-only -----------------------------------------------------------

# The only writes an auditor may make: its own credentials and grants, and actions that
# verify or compute without changing tenant data.
AUDITOR_MAY_POST = {
    "api/^audit-chain-checks/$ create",  # queue a walk of the chain
    "api/^evidence/(?P<pk>[^/.]+)/reverify/$ reverify",  # queue a verification
    "api/pcq/compile/ post",  # compile a DSL chain; nothing stored
    "api/zk/verify/ post",  # verify bundles; nothing stored
    "api/^tokens/$ create",  # its own API tokens
    "api/^tokens/(?P<pk>[^/.]+)/$ destroy",
    "api/^jit/grants/(?P<pk>[^/.]+)/revoke/$ revoke",  # its own grant only (selector)
    "api/^jit/requests/(?P<pk>[^/.]+)/cancel/$ cancel",  # its own request only (service)
    "audit/verify/ post",
    "evidence/compile/ post",
    "tokens/ post",
    "tokens/<int:pk>/revoke/ post",
    "jit/grants/<int:pk>/revoke/ post",
    "jit/slack/link/ post",  # link its own Slack account
    "digests/preferences/ post",  # its own digest subscription
}
WRITE_ACTIONS = {"create", "update", "partial_update", "destroy"}


def _auditor_writes() -> set[str]:
    found = set()
    for route, callback in _walk(get_resolver().url_patterns):
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        actions = getattr(callback, "actions", None)
        if actions:
            names = {a for m, a in actions.items() if m not in ("get", "head", "options")}
        elif cls is not None:
            names = {m for m in ("post", "put", "patch", "delete") if hasattr(cls, m)}
        else:
            names = {"get"}
        for name in names:
            spec = declared_roles(cls or callback, name)
            if spec in (PUBLIC, SIGNED_IN) or spec is None:
                continue
            if Role.AUDITOR in spec:
                found.add(f"{route} {name}")
    return {f for f in found if "format" not in f}


def test_an_auditor_can_make_no_write_beyond_the_listed_ones() -> None:
    assert _auditor_writes() - AUDITOR_MAY_POST == set()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/policies/"),
        ("post", "/api/datasets/"),
        ("post", "/api/views/"),
        ("post", "/api/queries/"),
        ("post", "/api/jit/requests/"),
        ("post", "/api/zk/sessions/"),
        ("post", "/api/simulations/"),
        ("post", "/api/policy-validation/"),
        ("post", "/api/policy-lint/"),
    ],
)
def test_an_auditor_is_refused_every_write(auditor_a, tenant_a, method, url) -> None:
    from tests.conftest import token_client

    response = getattr(token_client(auditor_a, tenant_a), method)(url, {}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
