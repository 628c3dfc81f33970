from django.urls import path
from rest_framework.routers import BaseRouter

from . import lifecycle, views


def register(router: BaseRouter) -> None:
    router.register("policies", views.PolicyViewSet, basename="policy")
    router.register("promotions", lifecycle.PromotionViewSet, basename="promotion")
    router.register("drift", lifecycle.DriftViewSet, basename="drift")


urlpatterns = [
    path("policy-validation/", views.PolicyValidateView.as_view(), name="api-policy-validate"),
    path("policy-lint/", views.PolicyLintView.as_view(), name="api-policy-lint"),
    path("simulations/", views.SimulationView.as_view(), name="api-simulations"),
    path("coverage/", views.CoverageView.as_view(), name="api-coverage"),
    path("registry/", lifecycle.RegistryView.as_view(), name="api-registry"),
    path("rollbacks/", lifecycle.RollbackView.as_view(), name="api-rollbacks"),
    path("studio-metrics/", lifecycle.MetricsView.as_view(), name="api-studio-metrics"),
]
