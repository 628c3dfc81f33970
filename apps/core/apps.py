from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core: tenancy and audit"

    def ready(self) -> None:
        from . import metrics, signals  # noqa: F401  (signals: login/logout auditing)

        metrics.connect()

        from .api import authentication

        authentication.connect()  # saves of tokens, memberships, users, tenants: tokens are looked up again

        from .audit_targets import register_audit_target

        for target_type, name in (
            ("auth.user", "User"),
            ("auth.group", "Group"),
            ("core.apitoken", "API token"),
            ("core.membership", "Membership"),
            ("core.tenant", "Tenant"),
        ):
            register_audit_target(target_type, name)
