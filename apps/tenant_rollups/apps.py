from django.apps import AppConfig


class TenantRollupsConfig(AppConfig):
    name = "apps.tenant_rollups"
    label = "tenant_rollups"
    verbose_name = "Tenant rollups"

    def ready(self) -> None:
        # Registers the built-in section providers (and the "not recorded yet" placeholders).
        from apps.provenance.log_sources import register_log_source

        from . import offline
        from .models import Digest
        from .sections import builtin  # noqa: F401

        def digest_leaves() -> dict[int, bytes]:
            # The signed envelope is what was appended (services.digest_build).
            return {
                d.leaf_index: offline.envelope_leaf(d.envelope)
                for d in Digest.all_tenants.only("leaf_index", "envelope")
            }

        register_log_source("tenant digest", digest_leaves)
