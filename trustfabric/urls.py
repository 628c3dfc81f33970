from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import metrics as core_metrics
from apps.core import views as core_views
from apps.zk_proofs import ops as zk_ops

admin.site.site_header = "Trust Fabric administration"
admin.site.site_title = "Trust Fabric admin"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_metrics.metrics_view, name="metrics"),
    path("login/", core_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("trustfabric.api_urls")),
    path("data/", include("apps.graphs.urls")),
    path("evidence/", include("apps.provenance.urls")),
    path("jit/", include("apps.jit_approvals.urls")),
    path("zk/", include("apps.zk_proofs.urls")),
    path("pilots/", include("apps.pilots.urls")),
    path("digests/", include("apps.tenant_rollups.urls")),
    path("ops/pcq/", include("apps.pcq_ops.urls")),
    path("ops/zk/", zk_ops.ZkOpsView.as_view(), name="zk-ops"),
    path("", include("apps.policy_studio.urls")),
    path("", include("apps.queries.urls")),
    path("", include("apps.core.urls")),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
