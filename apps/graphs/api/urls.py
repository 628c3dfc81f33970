from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("datasets", views.DatasetViewSet, basename="dataset")
    router.register("views", views.GraphViewViewSet, basename="graphview")
