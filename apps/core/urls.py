from django.urls import path

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("tenants/switch/", views.tenant_switch, name="tenant-switch"),
    path("audit/", views.AuditEventListView.as_view(), name="audit-list"),
    path("audit/verify/", views.AuditChainVerifyView.as_view(), name="audit-verify"),
    path("audit/<int:seq>/", views.AuditEventDetailView.as_view(), name="audit-detail"),
    path("tokens/", views.ApiTokenListView.as_view(), name="tokens"),
    path("tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="token-revoke"),
]
