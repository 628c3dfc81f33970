from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("tenants", views.TenantViewSet, basename="tenant")
    router.register("memberships", views.MembershipViewSet, basename="membership")
    router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
    router.register("audit-chain-checks", views.AuditChainCheckViewSet, basename="auditchaincheck")
    router.register("tokens", views.ApiTokenViewSet, basename="apitoken")


urlpatterns = [path("me/", views.MeView.as_view(), name="api-me")]
