from django.urls import path

from . import views

urlpatterns = [
    path("", views.SessionListView.as_view(), name="zk-sessions"),
    path("keys/", views.TenantKeysView.as_view(), name="zk-keys"),
    path("trust.json", views.TrustFileView.as_view(), name="zk-trust"),
    path("<str:session_id>/", views.SessionDetailView.as_view(), name="zk-session"),
]
