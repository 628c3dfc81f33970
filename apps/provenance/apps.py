from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "apps.provenance"
    label = "provenance"
    verbose_name = "Provenance (PCQ)"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (manifests for every executed query)
