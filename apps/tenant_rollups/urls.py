from django.urls import path

from . import views

urlpatterns = [
    path("", views.ArchiveView.as_view(), name="digests"),
    path("actions/", views.ActionItemListView.as_view(), name="digest-items"),
    path("actions/<int:pk>/", views.ActionItemUpdateView.as_view(), name="digest-item-update"),
    path("preferences/", views.PreferencesView.as_view(), name="digest-preferences"),
    path("open/<str:token>/", views.OpenDigestView.as_view(), name="digest-open"),
    path("pixel/<str:token>.png", views.TrackingImageView.as_view(), name="digest-image"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="digest-unsubscribe"),
    path("<str:week>/", views.DigestDetailView.as_view(), name="digest-detail"),
    path("<str:week>/digest.dsse.json", views.DigestDownloadView.as_view(), name="digest-download"),
]
