from django.urls import path

from . import views

urlpatterns = [
    path("", views.ExplorerView.as_view(), name="pcq-ops-anomalies"),
    path("anomalies/<int:pk>/", views.AnomalyView.as_view(), name="pcq-ops-anomaly"),
    path("anomalies/<int:pk>/lineage/<str:node>/", views.LineageNodeView.as_view(), name="pcq-ops-lineage"),
    path("pages/", views.PagesView.as_view(), name="pcq-ops-pages"),
    path("pages/<int:pk>/", views.PageView.as_view(), name="pcq-ops-page"),
    path("fixtures/", views.ReportView.as_view(), name="pcq-ops-report"),
    path("suppressions/", views.SuppressionsView.as_view(), name="pcq-ops-suppressions"),
    path("suppressions/<int:pk>/approve/", views.SuppressionApproveView.as_view(), name="pcq-ops-approve"),
    path("suppressions/<int:pk>/revoke/", views.SuppressionRevokeView.as_view(), name="pcq-ops-revoke"),
    path("sampling/", views.SamplingView.as_view(), name="pcq-ops-sampling"),
    path("email/<str:token>/", views.EmailApproveView.as_view(), name="pcq-ops-email-approve"),
]
