from django.urls import path

from . import views

urlpatterns = [
    path("", views.PilotsView.as_view(), name="pilots"),
    path("appeals/<str:appeal_id>/", views.AppealView.as_view(), name="pilot-appeal"),
    path("partners/<slug:partner>/", views.PilotPageView.as_view(), name="pilot-page"),
    path("operator/", views.OperatorQueueView.as_view(), name="pilot-operator"),
    path("operator/<str:appeal_id>/", views.OperatorAppealView.as_view(), name="pilot-operator-appeal"),
]
