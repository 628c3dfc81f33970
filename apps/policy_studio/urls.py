from django.urls import path

from . import editor_views, views

urlpatterns = [
    path("studio/", views.PolicyListView.as_view(), name="policies"),
    path("studio/new/", views.PolicyEditView.as_view(), name="policy-new"),
    path("studio/coverage/", views.CoverageView.as_view(), name="coverage"),
    path("studio/lint-rules/", editor_views.LintRulesView.as_view(), name="studio-lint-rules"),
    path("studio/templates/", editor_views.TemplateLibraryView.as_view(), name="studio-templates"),
    path("studio/<slug:slug>/", views.PolicyEditView.as_view(), name="policy-edit"),
    path("studio/<slug:slug>/diff/", editor_views.PolicyDiffView.as_view(), name="studio-diff"),
    path("studio/<slug:slug>/v/<int:number>/", views.PolicyVersionView.as_view(), name="studio-version"),
    path("studio/<slug:slug>/v/<int:number>/activate/", views.PolicyActivateView.as_view(), name="studio-activate"),
    path("studio/<slug:slug>/simulate/", views.SimulationView.as_view(), name="policy-simulate"),
]
