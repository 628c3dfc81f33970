from django.urls import path

from . import views

urlpatterns = [
    path("queries/", views.QueryView.as_view(), name="queries"),
    path("queries/<int:pk>/", views.QueryDetailView.as_view(), name="query-detail"),
]
