from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("jit/requests", views.AccessRequestViewSet, basename="jit-request-api")
    router.register("jit/grants", views.AccessGrantViewSet, basename="jit-grant-api")


urlpatterns = [path("jit/metrics/", views.MetricsView.as_view(), name="api-jit-metrics")]
