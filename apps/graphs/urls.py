from django.urls import path

from . import views

urlpatterns = [
    path("", views.DatasetListView.as_view(), name="datasets"),
    path("<slug:slug>/", views.DatasetDetailView.as_view(), name="dataset-page"),
]
