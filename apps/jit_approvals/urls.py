from django.urls import path

from . import views

urlpatterns = [
    path("", views.RequestListView.as_view(), name="jit-requests"),
    path("inbox/", views.InboxView.as_view(), name="jit-inbox"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="jit-request-detail"),
    path("requests/<int:pk>/<str:decision>/", views.DecideView.as_view(), name="jit-decide"),
    path("grants/", views.GrantListView.as_view(), name="jit-grants"),
    path("grants/<int:pk>/", views.GrantView.as_view(), name="jit-grant"),
    path("grants/<int:pk>/run/", views.GrantRunView.as_view(), name="jit-grant-run"),
    path("grants/<int:pk>/revoke/", views.GrantRevokeView.as_view(), name="jit-grant-revoke"),
    path("metrics/", views.MetricsView.as_view(), name="jit-metrics"),
    path("slack/link/", views.SlackLinkView.as_view(), name="jit-slack-link"),
    path("email/<str:token>/", views.EmailActionView.as_view(), name="jit-email-action"),
    path("slack/interactivity/", views.SlackInteractivityView.as_view(), name="jit-slack-interactivity"),
]
