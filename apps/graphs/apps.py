from django.apps import AppConfig


class GraphsConfig(AppConfig):
    name = "apps.graphs"
    label = "graphs"
    verbose_name = "Graph datasets and queries"

    def ready(self) -> None:
        from apps.core.audit_targets import register_audit_target

        register_audit_target("graphs.dataset", "Dataset")
        register_audit_target("graphs.datasetversion", "Dataset version")
        register_audit_target("graphs.graphview", "View")
