from django.urls import path

from . import views

urlpatterns = [
    path("", views.EvidenceListView.as_view(), name="evidence"),
    path("compile/", views.ProvenanceCompileView.as_view(), name="prov-compile"),
    path("integrity/", views.IntegrityView.as_view(), name="integrity"),
    path("<int:pk>/", views.EvidenceDetailView.as_view(), name="evidence-detail"),
    path("<int:pk>/bundle.tar.gz", views.EvidenceBundleView.as_view(), name="evidence-bundle"),
]
