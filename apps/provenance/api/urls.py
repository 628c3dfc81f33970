from django.urls import path
from rest_framework.routers import BaseRouter

from . import views


def register(router: BaseRouter) -> None:
    router.register("evidence", views.EvidenceViewSet, basename="evidence-api")


urlpatterns = [
    path(
        "pcq/log/entries/<int:leaf_index>/inclusion-proof/",
        views.InclusionProofView.as_view(),
        name="api-pcq-inclusion",
    ),
    path("pcq/log/consistency-proof/", views.ConsistencyProofView.as_view(), name="api-pcq-consistency"),
    path("pcq/log/checkpoint/", views.CheckpointView.as_view(), name="api-pcq-checkpoint"),
    path("pcq/keys/", views.KeysView.as_view(), name="api-pcq-keys"),
    path("pcq/integrity/", views.IntegrityReportView.as_view(), name="api-pcq-integrity"),
    path("pcq/manifest-schema/", views.ManifestSchemaView.as_view(), name="api-pcq-schema"),
    path("pcq/compile/", views.ProvCompileView.as_view(), name="api-pcq-compile"),
]
