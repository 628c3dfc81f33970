"""One router for the whole API; each app registers its viewsets."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from apps.core.api import urls as core_api
from apps.graphs.api import urls as graphs_api
from apps.jit_approvals.api import urls as jit_api
from apps.pcq_ops.api import urls as pcq_ops_api
from apps.pilots.api import urls as pilots_api
from apps.policy_studio.api import urls as policy_api
from apps.provenance.api import urls as provenance_api
from apps.queries.api import urls as queries_api
from apps.zk_proofs.api import urls as zk_api

router = DefaultRouter(trailing_slash=True)
for app in (core_api, graphs_api, policy_api, queries_api, provenance_api, jit_api, zk_api, pcq_ops_api, pilots_api):
    app.register(router)

urlpatterns = [
    path("", include(core_api.urlpatterns)),
    path("", include(policy_api.urlpatterns)),
    path("", include(provenance_api.urlpatterns)),
    path("", include(jit_api.urlpatterns)),
    path("", include(zk_api.urlpatterns)),
    path("", include(pilots_api.urlpatterns)),
    *router.urls,
]
