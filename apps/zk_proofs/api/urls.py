from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    """No viewsets: sessions are addressed by their public id."""


urlpatterns = [
    path("zk/verify/", views.VerifyView.as_view(), name="api-zk-verify"),
    path("zk/trust/", views.TrustView.as_view(), name="api-zk-trust"),
    path("zk/sessions/", views.SessionListView.as_view(), name="api-zk-sessions"),
    path("zk/sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="api-zk-session"),
    path("zk/sessions/<str:session_id>/key/", views.SessionKeyView.as_view(), name="api-zk-key"),
    path("zk/sessions/<str:session_id>/round1/", views.Round1View.as_view(), name="api-zk-round1"),
    path("zk/sessions/<str:session_id>/counterpart/", views.CounterpartView.as_view(), name="api-zk-counterpart"),
    path("zk/sessions/<str:session_id>/round2/", views.Round2View.as_view(), name="api-zk-round2"),
    path("zk/sessions/<str:session_id>/statement/", views.StatementView.as_view(), name="api-zk-statement"),
    path("zk/sessions/<str:session_id>/bundle/", views.BundleView.as_view(), name="api-zk-bundle"),
]
