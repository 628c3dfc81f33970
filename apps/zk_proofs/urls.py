from django.urls import path

from . import views

urlpatterns = [
    path("", views.SessionListView.as_view(), name="zk-sessions"),
    path("<str:session_id>/", views.SessionDetailView.as_view(), name="zk-session"),
]
