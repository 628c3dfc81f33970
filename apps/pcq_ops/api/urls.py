from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("pcq-ops/anomalies", views.AnomalyViewSet, basename="pcq-ops-anomaly-api")
    router.register("pcq-ops/suppressions", views.SuppressionRuleViewSet, basename="pcq-ops-suppression-api")


urlpatterns: list = []
