from django.urls import path

from . import editor_views, lifecycle_views, people_views, views

urlpatterns = [
    path("people/", people_views.PeopleView.as_view(), name="people"),
    path("studio/", views.PolicyListView.as_view(), name="policies"),
    path("studio/new/", views.PolicyEditView.as_view(), name="policy-new"),
    path("studio/coverage/", views.CoverageView.as_view(), name="coverage"),
    path("studio/lifecycle/", lifecycle_views.LifecycleView.as_view(), name="studio-lifecycle"),
    path("studio/lifecycle/", lifecycle_views.LifecycleView.as_view(), name="studio-drift"),
    path("studio/lifecycle/drift-check/", lifecycle_views.DriftCheckView.as_view(), name="studio-drift-check"),
    path("studio/promotions/<int:pk>/", lifecycle_views.PromotionView.as_view(), name="studio-promotion"),
    path(
        "studio/promotions/<int:pk>/<slug:action>/",
        lifecycle_views.PromotionActionView.as_view(),
        name="studio-promotion-action",
    ),
    path("studio/lint-rules/", editor_views.LintRulesView.as_view(), name="studio-lint-rules"),
    path("studio/templates/", editor_views.TemplateLibraryView.as_view(), name="studio-templates"),
    path("studio/<slug:slug>/", views.PolicyEditView.as_view(), name="policy-edit"),
    path("studio/<slug:slug>/diff/", editor_views.PolicyDiffView.as_view(), name="studio-diff"),
    path("studio/<slug:slug>/v/<int:number>/", views.PolicyVersionView.as_view(), name="studio-version"),
    path("studio/<slug:slug>/v/<int:number>/activate/", views.PolicyActivateView.as_view(), name="studio-activate"),
    path("studio/<slug:slug>/promote/", lifecycle_views.PromoteView.as_view(), name="studio-promote"),
    path("studio/<slug:slug>/rollback/", lifecycle_views.RollbackView.as_view(), name="studio-rollback"),
    path("studio/<slug:slug>/simulate/", views.SimulationView.as_view(), name="policy-simulate"),
]
