from django.apps import AppConfig


class TenantRollupsConfig(AppConfig):
    name = "apps.tenant_rollups"
    label = "tenant_rollups"
    verbose_name = "Tenant rollups"

    def ready(self) -> None:
        # Registers the built-in section providers (and the "not recorded yet" placeholders).
        from .sections import builtin  # noqa: F401
