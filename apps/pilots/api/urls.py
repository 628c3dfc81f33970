from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    """No viewsets: appeals and documents are addressed by their public id."""


urlpatterns = [
    path("pilots/appeals/", views.AppealListView.as_view(), name="api-pilot-appeals"),
    path("pilots/appeals/<str:appeal_id>/", views.AppealDetailView.as_view(), name="api-pilot-appeal"),
    path("pilots/operator/appeals/", views.OperatorAppealListView.as_view(), name="api-pilot-operator-appeals"),
    path(
        "pilots/operator/appeals/<str:appeal_id>/decision/",
        views.OperatorDecisionView.as_view(),
        name="api-pilot-operator-decide",
    ),
    path("pilots/documents/", views.DocumentListView.as_view(), name="api-pilot-documents"),
    path("pilots/documents/<str:document_id>/", views.DocumentDetailView.as_view(), name="api-pilot-document"),
    path("pilots/documents/<str:document_id>/sign/", views.DocumentSignView.as_view(), name="api-pilot-document-sign"),
    path("pilots/partners/<slug:partner>/", views.PilotStateView.as_view(), name="api-pilot-state"),
]
