from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core: tenancy and audit"

    def ready(self) -> None:
        from . import metrics, signals  # noqa: F401  (signals: login/logout auditing)

        metrics.connect()
