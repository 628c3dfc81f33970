from django.apps import AppConfig


class PcqOpsConfig(AppConfig):
    name = "apps.pcq_ops"
    label = "pcq_ops"
    verbose_name = "PCQ operations"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
