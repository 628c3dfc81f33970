from django.apps import AppConfig


class TenantRollupsConfig(AppConfig):
    name = "apps.tenant_rollups"
    label = "tenant_rollups"
    verbose_name = "Tenant rollups"
