from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("policies", views.PolicyViewSet, basename="policy")


urlpatterns = [
    path("policy-validation/", views.PolicyValidateView.as_view(), name="api-policy-validate"),
    path("policy-lint/", views.PolicyLintView.as_view(), name="api-policy-lint"),
    path("simulations/", views.SimulationView.as_view(), name="api-simulations"),
    path("coverage/", views.CoverageView.as_view(), name="api-coverage"),
]
