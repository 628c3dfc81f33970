from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("queries", views.QueryRunViewSet, basename="queryrun")


urlpatterns: list[object] = []
